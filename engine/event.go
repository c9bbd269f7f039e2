package engine

import (
	"errors"
	"fmt"
	"time"
)

// Op is the kind of change an [Event] makes. Each op is one row of the op
// table (ops, below), which everything else about it derives from: its
// name, the names it carries and their validation, its binary form, how it
// changes a tenant and what it answers. The package doc lists, under
// "Adding an op", the places outside the table that a new op touches.
type Op uint8

// The operations. Their numeric values are part of the stored format: never
// renumber them.
const (
	OpAddRole             Op = 1  // Role
	OpDelRole             Op = 2  // Role
	OpAddPermission       Op = 3  // Role, Permission
	OpDelPermission       Op = 4  // Role, Permission
	OpAddMembership       Op = 5  // User, Role
	OpDelMembership       Op = 6  // User, Role
	OpBatch               Op = 7  // Changes, applied all together
	OpClear               Op = 8  // nothing; only as the first change of a batch, which then replaces the tenant's state
	OpAddInclusion        Op = 9  // Role, Includes: Role's members get Includes' permissions
	OpDelInclusion        Op = 10 // Role, Includes
	OpDelUser             Op = 11 // User: out of every role
	OpAddKey              Op = 12 // Key: ID, Name, Scope, Hash: a key of the tenant (keys.go)
	OpDelKey              Op = 13 // Key: ID, the key revoked
	OpDelTenant           Op = 14 // nothing: the tenant is deleted, and refuses every later event (tenant.go)
	OpAddMembershipWindow Op = 15 // User, Role, and StartsAt and/or ExpiresAt: a membership that counts only in its window (window.go)
	OpSweepWindows        Op = 16 // ExpiresAt: every membership whose window ended at or before it goes
)

// opSpec is a row of the op table: all there is to know about one op.
type opSpec struct {
	// name is the op's snake-case name: in the event feed, the stored
	// documents, the client and the OpenAPI description.
	name string
	// needs are the fields the op carries, each a valid name; a change of
	// the op must leave every other field empty.
	needs FieldSet
	// may are fields the op may carry or leave empty; its check validates
	// them. They are written in the binary form, empty or not.
	may FieldSet
	// batch marks the op whose changes are in Event.Changes, applied in
	// order and atomically; it carries no fields of its own.
	batch bool
	// first marks an op that may only be the first change of a batch.
	first bool
	// alone marks an op that is never a change of a batch.
	alone bool
	// fact marks an op that states one fact of a tenant's state, named by
	// its fields alone: an import line with exactly those fields is a
	// change of this op.
	fact bool
	// check, if set, validates what the field checks cannot (a field's
	// relation to another, a value's range); it runs after them.
	check func(Change) error
	// change applies a valid change to a tenant, t.mu held for writing,
	// and returns the original API's answer. (Changes are passed by value
	// here: a pointer passed through a func value escapes, and a check of a
	// no-op write must not allocate.)
	change func(t *tables, c Change) bool
	// answer returns what change would answer now and whether it would
	// change anything, t.mu held, without changing t.
	answer func(t *tables, c Change) (result, changes bool)
	// absent is what answer gives on a tenant that does not exist yet;
	// absentOf, if set, is that for an op whose answer there depends on
	// its fields.
	absent   struct{ result, changes bool }
	absentOf func(c Change) (result, changes bool)
	// refuse, if set, reports whether the tenant's state refuses the
	// change (an error matching ErrRefused), t.mu held: applied, a
	// refused change changes nothing but the seq.
	refuse func(t *tables, c Change) error
}

// ops is the op table, indexed by Op.
var ops = [...]opSpec{
	OpAddRole: {
		name: "add_role", needs: FieldSet(0).With(FieldRole), fact: true,
		change: func(t *tables, c Change) bool { return t.addRole(c.Role) },
		answer: func(t *tables, c Change) (bool, bool) { there := t.roleThere(c); return !there, !there },
		absent: answerOf(true, true),
	},
	OpDelRole: {
		name: "del_role", needs: FieldSet(0).With(FieldRole),
		change: func(t *tables, c Change) bool { return t.delRole(c.Role) },
		answer: func(t *tables, c Change) (bool, bool) { there := t.roleThere(c); return there, there },
	},
	OpAddPermission: {
		name: "add_permission", needs: FieldSet(0).With(FieldRole).With(FieldPermission), fact: true,
		change: func(t *tables, c Change) bool { return t.addPermission(c.Role, c.Permission) },
		answer: func(t *tables, c Change) (bool, bool) { return answerAdd(t.granted(c)) },
	},
	OpDelPermission: {
		name: "del_permission", needs: FieldSet(0).With(FieldRole).With(FieldPermission),
		change: func(t *tables, c Change) bool { t.delPermission(c.Role, c.Permission); return true },
		answer: func(t *tables, c Change) (bool, bool) { return answerDel(t.granted(c)) },
		absent: answerOf(true, false),
	},
	OpAddMembership: {
		name: "add_membership", needs: FieldSet(0).With(FieldRole).With(FieldUser), fact: true,
		change: func(t *tables, c Change) bool { return t.addMember(c.User, c.Role, forever) },
		answer: func(t *tables, c Change) (bool, bool) { return t.windowAnswer(c) },
	},
	OpDelMembership: {
		name: "del_membership", needs: FieldSet(0).With(FieldRole).With(FieldUser),
		change: func(t *tables, c Change) bool { t.delMembership(c.User, c.Role); return true },
		answer: func(t *tables, c Change) (bool, bool) { return answerDel(t.member(c)) },
		absent: answerOf(true, false),
	},
	OpAddInclusion: {
		name: "add_inclusion", needs: FieldSet(0).With(FieldRole).With(FieldIncludes), fact: true,
		change: func(t *tables, c Change) bool { return t.addInclusion(c.Role, c.Includes) },
		answer: func(t *tables, c Change) (bool, bool) { return answerAdd(t.included(c)) },
		refuse: func(t *tables, c Change) error { return t.cycle(c.Role, c.Includes) },
		absent: answerOf(false, false), // neither role exists
	},
	OpDelInclusion: {
		name: "del_inclusion", needs: FieldSet(0).With(FieldRole).With(FieldIncludes),
		change: func(t *tables, c Change) bool { t.delInclusion(c.Role, c.Includes); return true },
		answer: func(t *tables, c Change) (bool, bool) { return answerDel(t.included(c)) },
		absent: answerOf(true, false),
	},
	OpDelUser: {
		name: "del_user", needs: FieldSet(0).With(FieldUser),
		change: func(t *tables, c Change) bool { t.delUser(c.User); return true },
		answer: func(t *tables, c Change) (bool, bool) { return true, t.users.get(c.User) != nil },
		absent: answerOf(true, false),
	},
	OpAddMembershipWindow: {
		name: "add_membership_window", needs: FieldSet(0).With(FieldRole).With(FieldUser), fact: true,
		may:    FieldSet(0).With(FieldStartsAt).With(FieldExpiresAt),
		check:  checkWindowChange,
		change: func(t *tables, c Change) bool { return t.addMember(c.User, c.Role, c.window()) },
		answer: func(t *tables, c Change) (bool, bool) { return t.windowAnswer(c) },
	},
	OpSweepWindows: {
		name: "sweep_windows", needs: FieldSet(0).With(FieldExpiresAt),
		check:  checkSweep,
		change: func(t *tables, c Change) bool { t.sweep(c.window().until); return true },
		answer: func(t *tables, c Change) (bool, bool) { return true, t.sweepable(c.window().until) },
		absent: answerOf(true, false),
	},
	OpBatch: {
		name: "batch", batch: true,
		answer: func(*tables, Change) (bool, bool) { return true, true },
		absent: answerOf(true, true),
	},
	OpClear: {
		// The batch it begins gets fresh tables (Tenant.apply): nothing
		// is left to clear when it is applied.
		name: "clear", first: true,
		change: func(*tables, Change) bool { return true },
		answer: func(*tables, Change) (bool, bool) { return true, true },
		absent: answerOf(true, true),
	},
	OpAddKey: {
		name:  "add_key",
		needs: FieldSet(0).With(FieldKeyID).With(FieldKeyName).With(FieldScope).With(FieldKeyHash),
		check: checkAddKey,
		// A key's creation time is its event's (tables.now).
		change: func(t *tables, c Change) bool { return t.addKey(c) },
		answer: func(t *tables, c Change) (bool, bool) {
			id := FieldKeyID.Of(&c)
			fresh := id != FirstKey && t.keys.find(id) < 0
			return fresh, fresh
		},
		absent: answerOf(true, true),
	},
	OpDelKey: {
		name: "del_key", needs: FieldSet(0).With(FieldKeyID), check: checkDelKey,
		change: func(t *tables, c Change) bool { return t.delKey(c) },
		answer: func(t *tables, c Change) (bool, bool) { there := t.keys.has(FieldKeyID.Of(&c)); return there, there },
		// A tenant with no events has its first key only: revoking it is
		// a change (and makes the tenant).
		absentOf: func(c Change) (bool, bool) { first := FieldKeyID.Of(&c) == FirstKey; return first, first },
	},
	OpDelTenant: {
		// Tenant.apply gives the event fresh tables, as a clearing batch
		// gets: nothing is left to delete but the keys when it is
		// applied.
		name: "del_tenant", alone: true,
		change: func(t *tables, _ Change) bool { t.keys = &keySet{firstRevoked: true, deleted: true}; return true },
		answer: func(*tables, Change) (bool, bool) { return true, true },
		// A tenant never written to is deleted all the same: its key
		// makes no tenant afterwards.
		absent: answerOf(true, true),
	},
}

func answerOf(result, changes bool) struct{ result, changes bool } {
	return struct{ result, changes bool }{result, changes}
}

// spec returns op's row of the op table, or nil for an unknown op.
func (op Op) spec() *opSpec {
	if int(op) < len(ops) && ops[op].name != "" {
		return &ops[op]
	}
	return nil
}

// Ops returns every op, in numeric order.
func Ops() []Op {
	var out []Op
	for i := range ops {
		if ops[i].name != "" {
			out = append(out, Op(i))
		}
	}
	return out
}

// String returns the op's snake-case name, as used in the event feed.
func (op Op) String() string {
	if s := op.spec(); s != nil {
		return s.name
	}
	return fmt.Sprintf("op(%d)", uint8(op))
}

// ParseOp is the inverse of [Op.String].
func ParseOp(s string) (Op, error) {
	for i := range ops {
		if ops[i].name != "" && ops[i].name == s {
			return Op(i), nil
		}
	}
	return 0, fmt.Errorf("engine: unknown op %q", s)
}

// Needs returns the fields a change of op carries (none for an unknown op
// and for the batch op).
func (op Op) Needs() FieldSet {
	if s := op.spec(); s != nil {
		return s.needs
	}
	return 0
}

// May returns the fields a change of op may carry or leave empty (see
// [OpAddMembershipWindow]); none for most ops.
func (op Op) May() FieldSet {
	if s := op.spec(); s != nil {
		return s.may
	}
	return 0
}

// IsBatch reports whether op is the batch op, whose changes are in
// [Event.Changes].
func (op Op) IsBatch() bool {
	s := op.spec()
	return s != nil && s.batch
}

// IsFact reports whether op states one fact of a tenant's state, named by
// its fields alone (see [FactOp]): the facts are what an export lists and an
// import takes.
func (op Op) IsFact() bool {
	s := op.spec()
	return s != nil && s.fact
}

// FactOp returns the op stating the fact that has exactly the given fields,
// or else the one whose needed fields they hold with some of the fields it
// may carry, if there is one.
func FactOp(fields FieldSet) (Op, bool) {
	for i := range ops {
		if ops[i].fact && ops[i].needs == fields {
			return Op(i), true
		}
	}
	for i := range ops {
		if s := &ops[i]; s.fact && s.may != 0 && fields&s.needs == s.needs && fields&^(s.needs|s.may) == 0 {
			return Op(i), true
		}
	}
	return 0, false
}

// Field is one of the names a [Change] carries.
type Field uint8

// The fields, in the order of the binary form.
const (
	FieldRole Field = iota
	FieldPermission
	FieldUser
	FieldIncludes
	// The key fields: only the key ops carry them. (Field numbers are not
	// stored: a field past the first three is written only for the ops
	// that need it, in the table's order.)
	FieldKeyID
	FieldKeyName
	FieldScope
	FieldKeyHash
	// The window fields (window.go): RFC 3339 times, to the second.
	FieldStartsAt
	FieldExpiresAt
	numFields
)

type fieldSpec struct {
	// name is the field's key in JSON: the event feed, imports and
	// exports, stored documents, the client.
	name string
	// shared marks names that many changes of one import repeat (roles,
	// permissions), whose strings a parser may share.
	shared bool
	// always marks the fields written in the binary form of every change,
	// empty or not (the form's first fields); a field added later is
	// written only for the ops that need it, so stored events stay valid.
	always bool
}

var fields = [numFields]fieldSpec{
	FieldRole:       {name: "role", shared: true, always: true},
	FieldPermission: {name: "permission", shared: true, always: true},
	FieldUser:       {name: "user", always: true},
	FieldIncludes:   {name: "includes", shared: true},
	FieldKeyID:      {name: "key_id"},
	FieldKeyName:    {name: "key_name"},
	FieldScope:      {name: "scope"},
	FieldKeyHash:    {name: "key_hash"},
	FieldStartsAt:   {name: "starts_at"},
	FieldExpiresAt:  {name: "expires_at"},
}

// Fields returns every field, in the order of the binary form.
func Fields() []Field {
	out := make([]Field, numFields)
	for i := range out {
		out[i] = Field(i)
	}
	return out
}

// String returns the field's JSON key.
func (f Field) String() string {
	if f < numFields {
		return fields[f].name
	}
	return fmt.Sprintf("field(%d)", uint8(f))
}

// FieldNamed returns the field whose JSON key is name. It does not allocate.
func FieldNamed(name []byte) (Field, bool) {
	for i := range fields {
		if string(name) == fields[i].name {
			return Field(i), true
		}
	}
	return 0, false
}

// Shared reports whether many changes of one import tend to repeat the
// field's names (roles and permissions do, users do not), so that a parser
// of many changes gains by sharing their strings.
func (f Field) Shared() bool { return f < numFields && fields[f].shared }

// In returns a pointer to c's value of f, to set it; a key field gives c
// its Key arguments first if it has none. (A switch, not a func value in
// the table: c would escape through a func value.) Read with [Field.Of].
func (f Field) In(c *Change) *string {
	switch f {
	case FieldRole:
		return &c.Role
	case FieldPermission:
		return &c.Permission
	case FieldUser:
		return &c.User
	case FieldIncludes:
		return &c.Includes
	case FieldStartsAt, FieldExpiresAt:
		if c.Window == nil {
			c.Window = new(WindowArgs)
		}
		if f == FieldStartsAt {
			return &c.Window.StartsAt
		}
		return &c.Window.ExpiresAt
	}
	if c.Key == nil {
		c.Key = new(KeyArgs)
	}
	switch f {
	case FieldKeyID:
		return &c.Key.ID
	case FieldKeyName:
		return &c.Key.Name
	case FieldScope:
		return &c.Key.Scope
	case FieldKeyHash:
		return &c.Key.Hash
	}
	panic(fmt.Sprintf("engine: %v", f))
}

// Of returns c's value of f ("" for a key field of a change without Key
// arguments). It does not allocate: validating a change must not.
func (f Field) Of(c *Change) string {
	switch f {
	case FieldRole:
		return c.Role
	case FieldPermission:
		return c.Permission
	case FieldUser:
		return c.User
	case FieldIncludes:
		return c.Includes
	case FieldStartsAt, FieldExpiresAt:
		switch {
		case c.Window == nil:
			return ""
		case f == FieldStartsAt:
			return c.Window.StartsAt
		}
		return c.Window.ExpiresAt
	}
	if c.Key == nil {
		return ""
	}
	switch f {
	case FieldKeyID:
		return c.Key.ID
	case FieldKeyName:
		return c.Key.Name
	case FieldScope:
		return c.Key.Scope
	case FieldKeyHash:
		return c.Key.Hash
	}
	panic(fmt.Sprintf("engine: %v", f))
}

// FieldSet is a set of fields.
type FieldSet uint32

// With returns s with f added.
func (s FieldSet) With(f Field) FieldSet { return s | 1<<f }

// Has reports whether f is in s.
func (s FieldSet) Has(f Field) bool { return s&(1<<f) != 0 }

// Fields lists the fields of s in order.
func (s FieldSet) Fields() []Field {
	var out []Field
	for f := Field(0); f < numFields; f++ {
		if s.Has(f) {
			out = append(out, f)
		}
	}
	return out
}

// Change is one change of state: an op and the names it needs.
type Change struct {
	Op         Op
	Role       string
	Permission string
	User       string
	// Includes is the role an inclusion's Role includes.
	Includes string
	// Key holds the key ops' fields (keys.go), nil for every other op: a
	// pointer, so that the changes of a large import stay as small as
	// they were.
	Key *KeyArgs
	// Window holds the window fields (window.go), nil for the ops that
	// carry none.
	Window *WindowArgs
}

// KeyArgs are the fields of a key op: a key's id, name, scope (check,
// read or admin) and the hex of the hash of its secret. Changes share
// them: never change them in place.
type KeyArgs struct {
	ID, Name, Scope, Hash string
}

// Event is one durable change to one tenant. Events of a tenant are applied
// in Seq order, each exactly once; Seq is dense and starts at 1.
type Event struct {
	Tenant TenantID
	Seq    uint64
	// ID is chosen by the writer at random; it lets the replica that wrote
	// an event recognize it when it comes back from the store or the bus.
	ID   uint64
	Time time.Time
	// By is the id of the key that made the event (the audit trail;
	// never the secret); "" for events made before keys had ids.
	By string
	Change
	// Changes holds the changes of an OpBatch event, applied in order and
	// atomically; it is empty for every other op.
	Changes []Change
}

// Errors of [Engine.Apply] and [Change.Validate].
var (
	ErrBadOp      error = &inputError{"unknown op"}
	ErrOutOfOrder       = errors.New("engine: event is not the tenant's next seq")
	// ErrRefused matches the error of a change that is valid but that the
	// tenant's state refuses: applied, it changes nothing but the seq.
	ErrRefused = errors.New("refused by the tenant's state")
	// ErrTenantDeleted is the refusal of every event after a tenant's
	// deletion (OpDelTenant): one written by a replica that had not heard
	// of the deletion yet changes nothing.
	ErrTenantDeleted error = &refusedError{"the tenant is deleted"}
	// ErrCycle is the refusal of an inclusion that would make a cycle of
	// roles (a role that includes itself, directly or through others).
	ErrCycle error = &refusedError{"the inclusion would make a cycle of roles"}
)

// CycleError is the refusal of an inclusion that would make a cycle of
// roles; it matches ErrCycle and ErrRefused.
type CycleError struct {
	Change   int // the change's index in its batch, or -1 outside one
	Role     string
	Includes string
}

func (e *CycleError) Error() string {
	msg := fmt.Sprintf("%q including %q would make a cycle of roles", e.Role, e.Includes)
	if e.Change >= 0 {
		msg = fmt.Sprintf("change %d: %s", e.Change, msg)
	}
	return msg
}

func (e *CycleError) Is(target error) bool { return target == ErrCycle || target == ErrRefused }

// refusedError is a refusal by the tenant's state; it matches ErrRefused.
type refusedError struct{ msg string }

func (e *refusedError) Error() string        { return e.msg }
func (e *refusedError) Is(target error) bool { return target == ErrRefused }

// Validate checks that c names what its op needs, with valid names, and
// nothing else. A batch op is not a valid change: batches do not nest.
func (c *Change) Validate() error {
	s := c.Op.spec()
	if s == nil || s.batch {
		return ErrBadOp
	}
	var errs []error
	for f := Field(0); f < numFields; f++ {
		if s.needs.Has(f) {
			if err := ValidName(f.Of(c)); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f, err))
			}
		}
	}
	for f := Field(0); f < numFields; f++ {
		if !s.needs.Has(f) && !s.may.Has(f) && f.Of(c) != "" {
			errs = append(errs, &inputError{fmt.Sprintf("%s op carries a %s", c.Op, f)})
		}
	}
	if len(errs) == 0 && s.check != nil {
		return s.check(*c)
	}
	return errors.Join(errs...)
}

// Validate checks the event's changes (see [Change.Validate]).
func (e *Event) Validate() error {
	if e.By != "" && !validKeyID(e.By) {
		return &inputError{fmt.Sprintf("event's key id %q is not a key id", e.By)}
	}
	if s := e.Op.spec(); s != nil && s.first {
		return &inputError{fmt.Sprintf("a %s change only begins a batch", e.Op)}
	}
	if !e.Op.IsBatch() {
		if len(e.Changes) != 0 {
			return &inputError{fmt.Sprintf("%s event carries batch changes", e.Op)}
		}
		return e.Change.Validate()
	}
	for f := Field(0); f < numFields; f++ {
		if f.Of(&e.Change) != "" {
			return &inputError{"batch event carries names of its own"}
		}
	}
	for i := range e.Changes {
		if err := e.Changes[i].Validate(); err != nil {
			return fmt.Errorf("change %d: %w", i, err)
		}
		if i > 0 && e.Changes[i].Op.spec().first {
			return &inputError{fmt.Sprintf("change %d: a %s change only begins a batch", i, e.Changes[i].Op)}
		}
		if e.Changes[i].Op.spec().alone {
			return &inputError{fmt.Sprintf("change %d: a %s change is never part of a batch", i, e.Changes[i].Op)}
		}
	}
	return nil
}
