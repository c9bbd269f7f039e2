// Package origtest writes MongoDB documents as the original Python server
// (auth 0.5.3, mongoengine) writes them, for tests and benchmarks of the
// migration from it: its writes, one by one as its code makes them
// (Original), the states only its bugs and races leave behind, and large
// datasets in bulk (Seed).
//
// The documents are the original's, field for field (auth/CAS/models/db.py
// and auth/CAS/authorization.py):
//
//	auth_group:      {_id, creator, role, is_active, date_created, modified}
//	auth_membership: {_id, user, creator, groups: [ObjectId], is_active, date_created, modified}
//	auth_permission: {_id, name, groups: [ObjectId], creator}
//
// mongoengine leaves out a field whose value is None (description), saves
// a new document with insert (pymongo puts _id first) and a changed one
// with $set of the changed fields, and runs no defaults on an upsert: the
// original creates permission documents by
// AuthPermission.objects(name=name).update(add_to_set__groups=[group],
// creator=key, upsert=True), so they have no is_active and no dates.
// date_created's default is evaluated once, when the class is defined, so
// every document of a process has the same one.
package origtest

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The original's collections.
const (
	Groups      = "auth_group"
	Memberships = "auth_membership"
	Permissions = "auth_permission"
)

// Original makes the original's writes, as its Authorization class does,
// to one database.
type Original struct {
	db *mongo.Database
	// created is date_created's default, fixed when the class is defined.
	created time.Time
}

// New returns the original writing to db, with the unique indexes
// mongoengine creates for its unique_with fields.
func New(ctx context.Context, db *mongo.Database) (*Original, error) {
	for coll, fields := range map[string][2]string{
		Groups:      {"role", "creator"},
		Memberships: {"user", "creator"},
		Permissions: {"name", "creator"},
	} {
		_, err := db.Collection(coll).Indexes().CreateOne(ctx, mongo.IndexModel{
			Keys:    bson.D{{Key: fields[0], Value: 1}, {Key: fields[1], Value: 1}},
			Options: options.Index().SetUnique(true),
		})
		if err != nil {
			return nil, err
		}
	}
	return &Original{db: db, created: now()}, nil
}

// now is Python's datetime.datetime.now(), as BSON keeps it: to the
// millisecond.
func now() time.Time { return time.Now().Truncate(time.Millisecond) }

func (o *Original) coll(name string) *mongo.Collection { return o.db.Collection(name) }

// group is AuthGroup.objects(role=role, creator=key).first(): its _id, or
// a zero id.
func (o *Original) group(ctx context.Context, key, role string) (bson.ObjectID, error) {
	var g struct {
		ID bson.ObjectID `bson:"_id"`
	}
	err := o.coll(Groups).FindOne(ctx, bson.D{{Key: "role", Value: role}, {Key: "creator", Value: key}},
		options.FindOne().SetSort(bson.D{{Key: "_id", Value: 1}})).Decode(&g)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return bson.ObjectID{}, nil
	}
	return g.ID, err
}

// AddRole is add_role: a new group, false if the key has that role.
func (o *Original) AddRole(ctx context.Context, key, role string) (bool, error) {
	t := now()
	_, err := o.coll(Groups).InsertOne(ctx, bson.D{
		{Key: "_id", Value: bson.NewObjectID()},
		{Key: "creator", Value: key},
		{Key: "role", Value: role},
		{Key: "is_active", Value: true},
		{Key: "date_created", Value: o.created},
		{Key: "modified", Value: t},
	})
	if mongo.IsDuplicateKeyError(err) {
		return false, nil
	}
	return err == nil, err
}

// DelRole is del_role: the group goes, and the references to it stay in
// memberships and permissions (the original does not cascade).
func (o *Original) DelRole(ctx context.Context, key, role string) (bool, error) {
	g, err := o.group(ctx, key, role)
	if err != nil || g.IsZero() {
		return false, err
	}
	_, err = o.coll(Groups).DeleteOne(ctx, bson.D{{Key: "_id", Value: g}})
	return err == nil, err
}

// AddMembership is add_membership: the user's document, made or given
// the group, false if the key has no such role.
func (o *Original) AddMembership(ctx context.Context, key, user, role string) (bool, error) {
	g, err := o.group(ctx, key, role)
	if err != nil || g.IsZero() {
		return false, err
	}
	var m struct {
		ID     bson.ObjectID   `bson:"_id"`
		Groups []bson.ObjectID `bson:"groups"`
	}
	err = o.coll(Memberships).FindOne(ctx, bson.D{{Key: "user", Value: user}, {Key: "creator", Value: key}},
		options.FindOne().SetSort(bson.D{{Key: "_id", Value: 1}})).Decode(&m)
	t := now()
	if errors.Is(err, mongo.ErrNoDocuments) {
		_, err = o.coll(Memberships).InsertOne(ctx, bson.D{
			{Key: "_id", Value: bson.NewObjectID()},
			{Key: "user", Value: user},
			{Key: "creator", Value: key},
			{Key: "groups", Value: bson.A{g}},
			{Key: "is_active", Value: true},
			{Key: "date_created", Value: o.created},
			{Key: "modified", Value: t},
		})
		return err == nil, err
	}
	if err != nil {
		return false, err
	}
	// The original compares role names of the groups it can dereference;
	// a group of the same name is the same one here.
	for _, have := range m.Groups {
		if have == g {
			return true, nil
		}
	}
	_, err = o.coll(Memberships).UpdateOne(ctx, bson.D{{Key: "_id", Value: m.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "groups", Value: append(m.Groups, g)}, {Key: "modified", Value: t}}}})
	return err == nil, err
}

// AddPermission is add_permission, bug and all: if the key's role lacks
// the permission, the permission document of that name, whoever's, gets
// the group and the key as its creator (made if there is none).
func (o *Original) AddPermission(ctx context.Context, key, role, name string) (bool, error) {
	g, err := o.group(ctx, key, role)
	if err != nil || g.IsZero() {
		return false, err
	}
	n, err := o.coll(Permissions).CountDocuments(ctx, bson.D{{Key: "groups", Value: g}, {Key: "name", Value: name}, {Key: "creator", Value: key}})
	if err != nil || n > 0 {
		return err == nil, err
	}
	_, err = o.coll(Permissions).UpdateMany(ctx, bson.D{{Key: "name", Value: name}}, bson.D{
		{Key: "$addToSet", Value: bson.D{{Key: "groups", Value: bson.D{{Key: "$each", Value: bson.A{g}}}}}},
		{Key: "$set", Value: bson.D{{Key: "creator", Value: key}}},
	}, options.UpdateMany().SetUpsert(true))
	return err == nil, err
}

// DuplicateMembershipRef appends to the user's document a second
// reference to the key's role, as two add_membership calls racing each
// other leave it.
func (o *Original) DuplicateMembershipRef(ctx context.Context, key, user, role string) error {
	g, err := o.group(ctx, key, role)
	if err != nil {
		return err
	}
	if g.IsZero() {
		return errors.New("origtest: no such role")
	}
	_, err = o.coll(Memberships).UpdateOne(ctx, bson.D{{Key: "user", Value: user}, {Key: "creator", Value: key}},
		bson.D{{Key: "$push", Value: bson.D{{Key: "groups", Value: g}}}})
	return err
}

// SetActive sets is_active of the key's role, which the original writes
// and never reads.
func (o *Original) SetActive(ctx context.Context, key, role string, active bool) error {
	_, err := o.coll(Groups).UpdateOne(ctx, bson.D{{Key: "role", Value: role}, {Key: "creator", Value: key}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "is_active", Value: active}, {Key: "modified", Value: now()}}}})
	return err
}
