package engine

import (
	"errors"
	"fmt"
	"time"
)

// Op is the kind of change an [Event] makes.
type Op uint8

// The operations. Their numeric values are part of the stored format: never
// renumber them.
const (
	OpAddRole       Op = 1 // Role
	OpDelRole       Op = 2 // Role
	OpAddPermission Op = 3 // Role, Permission
	OpDelPermission Op = 4 // Role, Permission
	OpAddMembership Op = 5 // User, Role
	OpDelMembership Op = 6 // User, Role
	OpBatch         Op = 7 // Changes, applied all together
	OpClear         Op = 8 // nothing; only as the first change of a batch, which then replaces the tenant's state
)

var opNames = [...]string{
	OpAddRole:       "add_role",
	OpDelRole:       "del_role",
	OpAddPermission: "add_permission",
	OpDelPermission: "del_permission",
	OpAddMembership: "add_membership",
	OpDelMembership: "del_membership",
	OpBatch:         "batch",
	OpClear:         "clear",
}

// String returns the op's snake-case name, as used in the event feed.
func (op Op) String() string {
	if int(op) < len(opNames) && opNames[op] != "" {
		return opNames[op]
	}
	return fmt.Sprintf("op(%d)", uint8(op))
}

// ParseOp is the inverse of [Op.String].
func ParseOp(s string) (Op, error) {
	for i, n := range opNames {
		if n != "" && n == s {
			return Op(i), nil
		}
	}
	return 0, fmt.Errorf("engine: unknown op %q", s)
}

// Change is one change of state: an op and the names it needs.
type Change struct {
	Op         Op
	Role       string
	Permission string
	User       string
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
	Change
	// Changes holds the changes of an OpBatch event, applied in order and
	// atomically; it is empty for every other op.
	Changes []Change
}

// Errors of [Engine.Apply] and [Change.Validate].
var (
	ErrBadOp      error = &inputError{"unknown op"}
	ErrOutOfOrder       = errors.New("engine: event is not the tenant's next seq")
)

// Validate checks that c names what its op needs, with valid names, and
// nothing else.
func (c *Change) Validate() error {
	need := func(field, v string) error {
		if err := ValidName(v); err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
		return nil
	}
	none := func(field, v string) error {
		if v != "" {
			return &inputError{fmt.Sprintf("%s op carries a %s", c.Op, field)}
		}
		return nil
	}
	switch c.Op {
	case OpAddRole, OpDelRole:
		return errors.Join(need("role", c.Role), none("permission", c.Permission), none("user", c.User))
	case OpAddPermission, OpDelPermission:
		return errors.Join(need("role", c.Role), need("permission", c.Permission), none("user", c.User))
	case OpAddMembership, OpDelMembership:
		return errors.Join(need("role", c.Role), need("user", c.User), none("permission", c.Permission))
	case OpClear:
		return errors.Join(none("role", c.Role), none("permission", c.Permission), none("user", c.User))
	default:
		return ErrBadOp
	}
}

// Validate checks the event's changes (see [Change.Validate]).
func (e *Event) Validate() error {
	if e.Op == OpClear {
		return &inputError{"a clear change only begins a batch"}
	}
	if e.Op != OpBatch {
		if len(e.Changes) != 0 {
			return &inputError{fmt.Sprintf("%s event carries batch changes", e.Op)}
		}
		return e.Change.Validate()
	}
	if e.Role != "" || e.Permission != "" || e.User != "" {
		return &inputError{"batch event carries names of its own"}
	}
	for i := range e.Changes {
		if err := e.Changes[i].Validate(); err != nil {
			return fmt.Errorf("change %d: %w", i, err)
		}
		if i > 0 && e.Changes[i].Op == OpClear {
			return &inputError{fmt.Sprintf("change %d: a clear change only begins a batch", i)}
		}
	}
	return nil
}
