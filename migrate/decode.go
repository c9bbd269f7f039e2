package migrate

import (
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The original's documents, as mongoengine writes them (auth 0.5.3,
// auth/CAS/models/db.py):
//
//	auth_group:      {_id: ObjectId, creator, role, description?, is_active, date_created, modified}
//	auth_membership: {_id: ObjectId, user, creator, groups: [ObjectId, ...], is_active, date_created, modified}
//	auth_permission: {_id: ObjectId, name, creator, groups: [ObjectId, ...]}
//
// (the original creates permission documents by an upsert, which writes
// no defaults: they often have no is_active or dates). Only the fields
// below are read; is_active is ignored, as the original's checks ignore
// it. A reference is an ObjectId, or a DBRef ({$ref, $id}) as mongoengine
// writes a ReferenceField declared with dbref=True.

// Collections of the original, named by mongoengine from its classes.
const (
	collGroups      = "auth_group"
	collMemberships = "auth_membership"
	collPermissions = "auth_permission"
)

// errMalformed is a document the original could not have written: a
// field missing or of another type. It is skipped and counted.
var errMalformed = errors.New("malformed document")

// doc is one decoded document of any of the three collections: name is
// the role, the user or the permission.
type doc struct {
	id      bson.ObjectID
	creator string
	name    string
	groups  []bson.ObjectID
	// badRefs counts elements of groups that are no reference: they
	// reference nothing, like a reference to a deleted group.
	badRefs int
}

// decodeDoc reads a document of coll from raw BSON; nameField is its name
// field, and withGroups whether it has a groups list. It never panics,
// whatever the bytes.
func decodeDoc(raw bson.Raw, nameField string, withGroups bool) (doc, error) {
	var d doc
	if err := raw.Validate(); err != nil {
		return d, errMalformed
	}
	var ok bool
	if d.id, ok = lookup(raw, "_id").ObjectIDOK(); !ok {
		return d, errMalformed
	}
	if d.creator, ok = lookup(raw, "creator").StringValueOK(); !ok {
		return d, errMalformed
	}
	if d.name, ok = lookup(raw, nameField).StringValueOK(); !ok {
		return d, errMalformed
	}
	if !withGroups {
		return d, nil
	}
	v := lookup(raw, "groups")
	if v.Type == 0 || v.Type == bson.TypeNull {
		return d, nil // mongoengine leaves an empty list out
	}
	arr, ok := v.ArrayOK()
	if !ok {
		return d, errMalformed
	}
	vals, err := arr.Values()
	if err != nil {
		return d, errMalformed
	}
	d.groups = make([]bson.ObjectID, 0, len(vals))
	for _, e := range vals {
		if id, ok := reference(e); ok {
			d.groups = append(d.groups, id)
		} else {
			d.badRefs++
		}
	}
	return d, nil
}

// lookup is raw's field key, or the zero value (Type 0) if it has none.
func lookup(raw bson.Raw, key string) bson.RawValue {
	v, err := raw.LookupErr(key)
	if err != nil {
		return bson.RawValue{}
	}
	return v
}

// reference reads a reference to a group: an ObjectId, or a DBRef.
func reference(v bson.RawValue) (bson.ObjectID, bool) {
	if id, ok := v.ObjectIDOK(); ok {
		return id, true
	}
	if sub, ok := v.DocumentOK(); ok {
		return lookup(sub, "$id").ObjectIDOK()
	}
	return bson.ObjectID{}, false
}
