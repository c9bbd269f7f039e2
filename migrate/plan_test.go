package migrate

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.mongodb.org/mongo-driver/v2/bson"
	"pgregory.net/rapid"

	"auth/client"
)

func objectID(n int) bson.ObjectID {
	var id bson.ObjectID
	binary.BigEndian.PutUint32(id[8:], uint32(n))
	return id
}

// served answers from a tenant's facts as the server does: a user has a
// permission when one of its roles is granted it.
type served struct {
	roles          []string
	perms, members map[string][]string
}

func serve(facts []client.Fact) served {
	s := served{perms: map[string][]string{}, members: map[string][]string{}}
	for _, f := range facts {
		switch {
		case f.Permission != "":
			s.perms[f.Role] = append(s.perms[f.Role], f.Permission)
		case f.User != "":
			s.members[f.Role] = append(s.members[f.Role], f.User)
		default:
			s.roles = append(s.roles, f.Role)
		}
	}
	return s
}

func (s served) has(user, perm string) bool {
	for r, users := range s.members {
		if slices.Contains(users, user) && slices.Contains(s.perms[r], perm) {
			return true
		}
	}
	return false
}

// TestPlanAgreesWithOriginal: on any data the original's documents can
// hold (references dangling, repeated, to other keys' groups; several
// keys' groups in one permission document; second documents of a role or
// a user; names the server refuses), the facts Plan imports answer every
// read as the second account of the original (original.go) does: roles,
// each role's permissions and members, and every check.
func TestPlanAgreesWithOriginal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		keys := []string{"k1", "k2", "k3", " spaced"}
		roles := []string{"a", "b", "c", "bad\x01role"}
		users := []string{"u", "v", "w", "bad\x02user"}
		perms := []string{"p", "q", "r", "bad\x03perm"}
		src := NewSource()
		nGroups := rapid.IntRange(0, 10).Draw(t, "groups")
		groupIDs := rapid.SliceOfNDistinct(rapid.IntRange(1, 40), nGroups, nGroups, rapid.ID[int]).Draw(t, "group ids")
		refs := []bson.ObjectID{objectID(99)} // a group deleted since
		for _, n := range groupIDs {
			src.AddGroup(objectID(n), rapid.SampledFrom(keys).Draw(t, "creator"), rapid.SampledFrom(roles).Draw(t, "role"))
			refs = append(refs, objectID(n))
		}
		drawRefs := func(label string) []bson.ObjectID {
			return rapid.SliceOfN(rapid.SampledFrom(refs), 0, 5).Draw(t, label)
		}
		docIDs := rapid.SliceOfNDistinct(rapid.IntRange(100, 200), 0, 20, rapid.ID[int]).Draw(t, "doc ids")
		for i, n := range docIDs {
			if i%2 == 0 {
				src.AddMembership(objectID(n), rapid.SampledFrom(keys).Draw(t, "creator"), rapid.SampledFrom(users).Draw(t, "user"), drawRefs("groups")...)
			} else {
				src.AddPermission(objectID(n), rapid.SampledFrom(keys).Draw(t, "creator"), rapid.SampledFrom(perms).Draw(t, "name"), drawRefs("groups")...)
			}
		}
		opts := Options{SkipInvalid: rapid.Bool().Draw(t, "skip invalid"), RestoreHiddenGrants: rapid.Bool().Draw(t, "restore")}

		o := newOriginal(src, opts.RestoreHiddenGrants)
		for _, tn := range Plan(src, opts) {
			if tn.Refused != "" {
				if tn.Key.s != " spaced" && (opts.SkipInvalid || len(tn.Invalid) == 0) {
					t.Fatalf("tenant %q refused: %s", tn.Key.s, tn.Refused)
				}
				continue
			}
			s := serve(tn.facts)
			c := tn.creator
			if diff := cmp.Diff(o.roles(c), s.roles, cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) })); diff != "" {
				t.Fatalf("tenant %q roles (-original +plan):\n%s", tn.Key.s, diff)
			}
			for _, r := range s.roles {
				if got, want := s.perms[r], o.rolePermissions(c, r); !slices.Equal(got, want) {
					t.Fatalf("tenant %q role %q permissions: plan %q, original %q", tn.Key.s, r, got, want)
				}
				if got, want := s.members[r], o.roleMembers(c, r); !slices.Equal(got, want) {
					t.Fatalf("tenant %q role %q members: plan %q, original %q", tn.Key.s, r, got, want)
				}
			}
			for _, u := range users {
				for _, p := range perms {
					if got, want := s.has(u, p), o.userHasPermission(c, u, p); got != want {
						t.Fatalf("tenant %q: %q may %q: plan %t, original %t", tn.Key.s, u, p, got, want)
					}
				}
			}
			if tn.Roles != len(s.roles) {
				t.Fatalf("tenant %q counts %d roles of %d", tn.Key.s, tn.Roles, len(s.roles))
			}
		}
	})
}

// TestKeyPrintsAsFingerprint: however a key, a tenant or a result is
// printed, the key is not.
func TestKeyPrintsAsFingerprint(t *testing.T) {
	const secret = "a-Secret-key_4711"
	src := NewSource()
	src.AddGroup(objectID(1), secret, "r")
	tn := Plan(src, Options{})[0]
	r := Result{Tenant: tn, Outcome: Imported}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	fp := fp(secret)
	for i, out := range []string{
		fmt.Sprint(tn.Key), fmt.Sprintf("%v|%+v|%#v|%s|%q|%x|%d", tn.Key, tn.Key, tn.Key, tn.Key, tn.Key, tn.Key, tn.Key),
		fmt.Sprintf("%v|%+v|%#v", *tn, *tn, *tn), string(js), fmt.Sprintf("%+v|%#v", src, *src),
		fmt.Sprintf("%v|%+v|%#v", r, r, r),
	} {
		// The last names the tenant by a pointer.
		if strings.Contains(out, secret) || i < 5 && !strings.Contains(out, fp) {
			t.Errorf("printed %q", out)
		}
	}
	if tn.Name != fp {
		t.Errorf("tenant named %q, want %q", tn.Name, fp)
	}
}

// TestTenantNamesAreUnique: two keys whose fingerprints share 8 hex
// digits are named by as many more as tell them apart.
func TestTenantNamesAreUnique(t *testing.T) {
	seen := map[string]string{}
	var k1, k2 string
	for i := 0; k1 == ""; i++ {
		k := fmt.Sprintf("key-%d", i)
		if other, ok := seen[fp(k)]; ok {
			k1, k2 = other, k
		}
		seen[fp(k)] = k
	}
	src := NewSource()
	for i, k := range []string{k1, k2, "another"} {
		src.AddGroup(objectID(i), k, "r")
	}
	names := map[string]bool{}
	for _, tn := range Plan(src, Options{}) {
		names[tn.Name] = true
		if want := fp(tn.Key.s); tn.Key.s == "another" && tn.Name != want {
			t.Errorf("a lone key is named %q, want %q", tn.Name, want)
		} else if tn.Key.s != "another" && (len(tn.Name) <= 8 || !strings.HasPrefix(tn.Name, want)) {
			t.Errorf("a key sharing its fingerprint is named %q", tn.Name)
		}
	}
	if len(names) != 3 {
		t.Errorf("names %v", names)
	}
}

// FuzzDecodeDoc: whatever bytes a server returns as a document, decoding
// it neither panics nor accepts a document without its fields.
func FuzzDecodeDoc(f *testing.F) {
	for _, d := range []bson.D{
		{{Key: "_id", Value: objectID(1)}, {Key: "creator", Value: "k"}, {Key: "role", Value: "r"}, {Key: "is_active", Value: true}},
		{{Key: "_id", Value: objectID(2)}, {Key: "user", Value: "u"}, {Key: "creator", Value: "k"}, {Key: "groups", Value: bson.A{objectID(1), objectID(1), "x"}}},
		{{Key: "_id", Value: objectID(3)}, {Key: "name", Value: "p"}, {Key: "groups", Value: bson.A{bson.D{{Key: "$ref", Value: "auth_group"}, {Key: "$id", Value: objectID(1)}}}}, {Key: "creator", Value: "k"}},
	} {
		b, err := bson.Marshal(d)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range []struct {
			field      string
			withGroups bool
		}{{"role", false}, {"user", true}, {"name", true}} {
			d, err := decodeDoc(bson.Raw(b), c.field, c.withGroups)
			if err != nil {
				continue
			}
			raw := bson.Raw(b)
			if _, ok := raw.Lookup("creator").StringValueOK(); !ok || d.id.IsZero() && raw.Lookup("_id").Type != bson.TypeObjectID {
				t.Fatalf("accepted %x as %+v", b, d)
			}
			if len(d.groups)+d.badRefs > len(b) {
				t.Fatalf("%d references from %d bytes", len(d.groups)+d.badRefs, len(b))
			}
		}
	})
}

// TestDecodeDoc: the documents as mongoengine writes them, and the ones
// it cannot have written.
func TestDecodeDoc(t *testing.T) {
	ref := bson.D{{Key: "$ref", Value: "auth_group"}, {Key: "$id", Value: objectID(1)}}
	tests := []struct {
		name  string
		doc   bson.D
		field string
		want  doc
		err   bool
	}{
		{"group", bson.D{{Key: "_id", Value: objectID(1)}, {Key: "creator", Value: "k"}, {Key: "role", Value: "r"}, {Key: "is_active", Value: false}}, "role",
			doc{id: objectID(1), creator: "k", name: "r"}, false},
		{"membership", bson.D{{Key: "_id", Value: objectID(2)}, {Key: "user", Value: "u"}, {Key: "creator", Value: "k"}, {Key: "groups", Value: bson.A{objectID(1), ref, 7}}}, "user",
			doc{id: objectID(2), creator: "k", name: "u", groups: []bson.ObjectID{objectID(1), objectID(1)}, badRefs: 1}, false},
		{"no groups", bson.D{{Key: "_id", Value: objectID(3)}, {Key: "name", Value: "p"}, {Key: "creator", Value: "k"}}, "name",
			doc{id: objectID(3), creator: "k", name: "p"}, false},
		{"no creator", bson.D{{Key: "_id", Value: objectID(4)}, {Key: "role", Value: "r"}}, "role", doc{}, true},
		{"creator not a string", bson.D{{Key: "_id", Value: objectID(4)}, {Key: "creator", Value: 1}, {Key: "role", Value: "r"}}, "role", doc{}, true},
		{"_id not an ObjectId", bson.D{{Key: "_id", Value: "x"}, {Key: "creator", Value: "k"}, {Key: "role", Value: "r"}}, "role", doc{}, true},
		{"groups not a list", bson.D{{Key: "_id", Value: objectID(5)}, {Key: "user", Value: "u"}, {Key: "creator", Value: "k"}, {Key: "groups", Value: "g"}}, "user", doc{}, true},
	}
	for _, tt := range tests {
		b, err := bson.Marshal(tt.doc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeDoc(b, tt.field, tt.field != "role")
		if (err != nil) != tt.err {
			t.Errorf("%s: error %v", tt.name, err)
			continue
		}
		if err == nil {
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(doc{})); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.name, diff)
			}
		}
	}
}
