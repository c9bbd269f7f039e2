package migrate

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	mongostore "auth/persist/mongo"
)

// Source is the original's database, read whole: its three collections,
// each document reduced to what the migration needs, creators (keys)
// interned to small numbers.
type Source struct {
	// Keys are the distinct creators; a document's Creator indexes it.
	Keys        []Key
	Groups      []Group
	Memberships []Membership
	Permissions []Permission
	// Malformed counts, by collection, documents skipped because the
	// original could not have written them (a field missing or of another
	// type); those whose creator could be read are counted in their
	// tenant's report too.
	Malformed map[string]int

	// keys interns creators. Behind a pointer, so that printing a Source
	// prints no key: fmt prints a nested pointer as an address.
	keys *keyIndex
	// malformedBy counts malformed documents by creator.
	malformedBy map[int32]int
}

type keyIndex struct{ m map[string]int32 }

// Group is a document of auth_group: a role of its creator.
type Group struct {
	ID      bson.ObjectID
	Creator int32
	Role    string
}

// Membership is a document of auth_membership: a user's roles.
type Membership struct {
	ID      bson.ObjectID
	Creator int32
	User    string
	Groups  []bson.ObjectID
	// BadRefs counts elements of Groups that are no reference.
	BadRefs int
}

// Permission is a document of auth_permission: the groups granted a
// permission. Its Creator is the key that last granted it (see the
// package documentation).
type Permission struct {
	ID      bson.ObjectID
	Creator int32
	Name    string
	Groups  []bson.ObjectID
	BadRefs int
}

// NewSource returns an empty source, to add documents to (for tests, and
// for ReadSource).
func NewSource() *Source {
	return &Source{Malformed: map[string]int{}, keys: &keyIndex{map[string]int32{}}, malformedBy: map[int32]int{}}
}

// creator interns a creator.
func (s *Source) creator(key string) int32 {
	if i, ok := s.keys.m[key]; ok {
		return i
	}
	i := int32(len(s.Keys))
	s.keys.m[key] = i
	s.Keys = append(s.Keys, Key{key})
	return i
}

// AddGroup, AddMembership and AddPermission add a document.
func (s *Source) AddGroup(id bson.ObjectID, creator, role string) {
	s.Groups = append(s.Groups, Group{ID: id, Creator: s.creator(creator), Role: role})
}

func (s *Source) AddMembership(id bson.ObjectID, creator, user string, groups ...bson.ObjectID) {
	s.Memberships = append(s.Memberships, Membership{ID: id, Creator: s.creator(creator), User: user, Groups: groups})
}

func (s *Source) AddPermission(id bson.ObjectID, creator, name string, groups ...bson.ObjectID) {
	s.Permissions = append(s.Permissions, Permission{ID: id, Creator: s.creator(creator), Name: name, Groups: groups})
}

// add decodes raw, a document of coll, into s.
func (s *Source) add(coll string, raw bson.Raw) {
	nameField, withGroups := "role", false
	switch coll {
	case collMemberships:
		nameField, withGroups = "user", true
	case collPermissions:
		nameField, withGroups = "name", true
	}
	d, err := decodeDoc(raw, nameField, withGroups)
	if err != nil {
		s.Malformed[coll]++
		if d.creator != "" {
			s.malformedBy[s.creator(d.creator)]++
		}
		return
	}
	c := s.creator(d.creator)
	switch coll {
	case collGroups:
		s.Groups = append(s.Groups, Group{ID: d.id, Creator: c, Role: d.name})
	case collMemberships:
		s.Memberships = append(s.Memberships, Membership{ID: d.id, Creator: c, User: d.name, Groups: d.groups, BadRefs: d.badRefs})
	case collPermissions:
		s.Permissions = append(s.Permissions, Permission{ID: d.id, Creator: c, Name: d.name, Groups: d.groups, BadRefs: d.badRefs})
	}
}

// readCounter counts documents read, for the progress line.
type readCounter struct {
	docs atomic.Int64
	coll atomic.Value // string: the collection being read
}

// ReadSource reads the original's three collections from database db of
// the MongoDB server at uri. timeout bounds connecting; only ctx bounds
// the reads. It writes nothing.
func ReadSource(ctx context.Context, uri, db string, timeout time.Duration, n *readCounter) (*Source, error) {
	opts := options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(timeout).
		SetConnectTimeout(timeout).
		SetAppName("authctl migrate-original").
		// The original's data is read once, as it is; any member will do.
		SetReadPreference(readpref.PrimaryPreferred())
	cl, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("migrate: connect to %s: %w", mongostore.Redacted(uri), err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = cl.Disconnect(dctx)
	}()
	pctx, cancel := context.WithTimeout(ctx, timeout)
	err = cl.Ping(pctx, readpref.PrimaryPreferred())
	cancel()
	if err != nil {
		return nil, fmt.Errorf("migrate: connect to %s: %w", mongostore.Redacted(uri), err)
	}
	database := cl.Database(db)
	names, err := database.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("migrate: list the collections of %s: %w", db, err)
	}
	found := 0
	for _, name := range names {
		switch name {
		case collGroups, collMemberships, collPermissions:
			found++
		}
	}
	if found == 0 {
		return nil, fmt.Errorf("migrate: database %q holds none of %s, %s, %s: is it the original's database?", db, collGroups, collMemberships, collPermissions)
	}
	src := NewSource()
	// Whole documents: the test server (FerretDB) reads a projection at
	// half the speed, and the fields left out are a few bytes.
	// Groups first, so that the progress line shows the small collection
	// done before the large one.
	for _, coll := range []string{collGroups, collPermissions, collMemberships} {
		if n != nil {
			n.coll.Store(coll)
		}
		cur, err := database.Collection(coll).Find(ctx, bson.D{})
		if err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", coll, err)
		}
		for cur.Next(ctx) {
			src.add(coll, cur.Current)
			if n != nil {
				n.docs.Add(1)
			}
		}
		err = cur.Err()
		_ = cur.Close(context.WithoutCancel(ctx))
		if err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", coll, err)
		}
	}
	return src, nil
}
