package origtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Dataset is the shape of a database of the original, written by Seed in
// bulk, with the documents the original's code writes and what its bugs
// leave behind:
//
//   - Tenants keys, each with Roles roles, Permissions permissions of its
//     own (each granted to two of its roles), and Users users, each in
//     RolesPerUser of its roles;
//   - one user in a hundred also holding a reference to a role since
//     deleted, and the first user of each key holding one of its
//     references twice;
//   - one permission, "shared", granted by every key to its first role:
//     one document, as the original's add_permission makes it, whose
//     creator is the last key, so that every other key's grant is hidden.
type Dataset struct {
	Tenants, Roles, Permissions, Users, RolesPerUser int
}

// Counts is what a dataset holds, as the migration counts it (without
// restoring hidden grants).
type Counts struct {
	Tenants, Roles, Grants, Memberships       int
	DanglingRefs, DuplicateRefs, HiddenGrants int
}

// Key is the key of tenant i of a seeded dataset.
func Key(i int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "origtest %d", i))
	return fmt.Sprintf("key-%03d-%s", i, hex.EncodeToString(h[:12]))
}

// Role, Permission and User are the names in a seeded dataset.
func Role(j int) string       { return fmt.Sprintf("role-%d", j) }
func Permission(j int) string { return fmt.Sprintf("perm-%d", j) }
func User(k int) string       { return fmt.Sprintf("user-%d", k) }

// batchSize is the documents of one insert.
const batchSize = 2000

// Seed writes d into db, which should hold none of the original's
// collections yet, and returns what it holds.
func Seed(ctx context.Context, db *mongo.Database, d Dataset) (Counts, error) {
	if d.Roles < 2 || d.RolesPerUser > d.Roles || d.Tenants < 1 {
		return Counts{}, fmt.Errorf("origtest: dataset %+v: want 2 roles or more, at most Roles per user, a tenant or more", d)
	}
	c := Counts{Tenants: d.Tenants}
	created := now()
	var groups, perms, members []any
	flush := func(coll string, docs *[]any, min int) error {
		if len(*docs) < min || len(*docs) == 0 {
			return nil
		}
		_, err := db.Collection(coll).InsertMany(ctx, *docs, options.InsertMany().SetOrdered(false))
		*docs = (*docs)[:0]
		return err
	}
	shared := bson.A{}
	for t := range d.Tenants {
		key := Key(t)
		ids := make([]bson.ObjectID, d.Roles)
		for j := range ids {
			ids[j] = bson.NewObjectID()
			groups = append(groups, bson.D{
				{Key: "_id", Value: ids[j]}, {Key: "creator", Value: key}, {Key: "role", Value: Role(j)},
				{Key: "is_active", Value: true}, {Key: "date_created", Value: created}, {Key: "modified", Value: created},
			})
		}
		c.Roles += d.Roles
		// A role deleted since: its group is gone, references stay.
		gone := bson.NewObjectID()
		for j := range d.Permissions {
			a, b := ids[j%d.Roles], ids[(j*7+1)%d.Roles]
			g := bson.A{a}
			if b != a {
				g = append(g, b)
			}
			c.Grants += len(g)
			perms = append(perms, bson.D{
				{Key: "_id", Value: bson.NewObjectID()}, {Key: "name", Value: fmt.Sprintf("t%d-%s", t, Permission(j))},
				{Key: "groups", Value: g}, {Key: "creator", Value: key},
			})
		}
		shared = append(shared, ids[0])
		for k := range d.Users {
			g := bson.A{}
			for i := range d.RolesPerUser {
				g = append(g, ids[(k+i*(d.Roles/d.RolesPerUser))%d.Roles])
			}
			c.Memberships += len(g)
			if k == 0 && len(g) > 0 {
				g = append(g, g[0])
				c.DuplicateRefs++
			}
			if k%100 == 0 {
				g = append(g, gone)
				c.DanglingRefs++
			}
			members = append(members, bson.D{
				{Key: "_id", Value: bson.NewObjectID()}, {Key: "user", Value: User(k)}, {Key: "creator", Value: key},
				{Key: "groups", Value: g}, {Key: "is_active", Value: true},
				{Key: "date_created", Value: created}, {Key: "modified", Value: created},
			})
			if err := flush(Memberships, &members, batchSize); err != nil {
				return c, err
			}
		}
		for _, f := range []struct {
			coll string
			docs *[]any
		}{{Groups, &groups}, {Permissions, &perms}} {
			if err := flush(f.coll, f.docs, batchSize); err != nil {
				return c, err
			}
		}
	}
	perms = append(perms, bson.D{
		{Key: "_id", Value: bson.NewObjectID()}, {Key: "name", Value: "shared"},
		{Key: "groups", Value: shared}, {Key: "creator", Value: Key(d.Tenants - 1)},
	})
	c.Grants++
	c.HiddenGrants = d.Tenants - 1
	for _, f := range []struct {
		coll string
		docs *[]any
	}{{Groups, &groups}, {Permissions, &perms}, {Memberships, &members}} {
		if err := flush(f.coll, f.docs, 0); err != nil {
			return c, err
		}
	}
	return c, nil
}
