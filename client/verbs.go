package client

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// The original library's verbs, over the /v1 routes.

// AddRole creates role. Result: true if created, false if it existed.
func (c *Client) AddRole(ctx context.Context, role string) (Write, error) {
	if role == "" {
		return Write{}, emptyName("role")
	}
	return c.write(ctx, http.MethodPost, "/v1/role", role)
}

// DelRole deletes role, its grants and its memberships. Result: true if
// deleted, false if it did not exist.
func (c *Client) DelRole(ctx context.Context, role string) (Write, error) {
	if role == "" {
		return Write{}, emptyName("role")
	}
	return c.write(ctx, http.MethodDelete, "/v1/role", role)
}

// HasRole reports whether role exists.
func (c *Client) HasRole(ctx context.Context, role string, opts ...ReadOption) (Answer, error) {
	if role == "" {
		return Answer{}, emptyName("role")
	}
	return c.readBool(ctx, "/v1/role", opts, role)
}

// Roles lists the roles.
func (c *Client) Roles(ctx context.Context, opts ...ReadOption) (List, error) {
	return c.readList(ctx, "/v1/roles", "result", "role", opts)
}

// AddPermission grants permission to role. Result: false if the role does
// not exist, else true (also when already granted).
func (c *Client) AddPermission(ctx context.Context, role, permission string) (Write, error) {
	if err := nonEmpty("role", role, "permission", permission); err != nil {
		return Write{}, err
	}
	return c.write(ctx, http.MethodPost, "/v1/permission", role, permission)
}

// DelPermission revokes permission from role. Result: true (also when
// there was nothing to revoke).
func (c *Client) DelPermission(ctx context.Context, role, permission string) (Write, error) {
	if err := nonEmpty("role", role, "permission", permission); err != nil {
		return Write{}, err
	}
	return c.write(ctx, http.MethodDelete, "/v1/permission", role, permission)
}

// HasPermission reports whether role is granted permission.
func (c *Client) HasPermission(ctx context.Context, role, permission string, opts ...ReadOption) (Answer, error) {
	if err := nonEmpty("role", role, "permission", permission); err != nil {
		return Answer{}, err
	}
	return c.readBool(ctx, "/v1/permission", opts, role, permission)
}

// RolePermissions lists the permissions granted to role.
func (c *Client) RolePermissions(ctx context.Context, role string, opts ...ReadOption) (List, error) {
	if role == "" {
		return List{}, emptyName("role")
	}
	return c.readList(ctx, "/v1/role_permissions", "results", "name", opts, role)
}

// AddMembership makes user a member of role. Result: false if the role
// does not exist, else true (also when already a member).
func (c *Client) AddMembership(ctx context.Context, user, role string) (Write, error) {
	if err := nonEmpty("user", user, "role", role); err != nil {
		return Write{}, err
	}
	return c.write(ctx, http.MethodPost, "/v1/membership", user, role)
}

// AddMembershipWindow makes user a member of role only from startsAt
// and/or until expiresAt (a zero time is no bound; times are kept to the
// second), replacing the window the membership had; AddMembership makes
// it permanent again. Result: false if the role does not exist.
func (c *Client) AddMembershipWindow(ctx context.Context, user, role string, startsAt, expiresAt time.Time) (Write, error) {
	if err := nonEmpty("user", user, "role", role); err != nil {
		return Write{}, err
	}
	body := map[string]string{}
	if !startsAt.IsZero() {
		body["starts_at"] = startsAt.UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	if !expiresAt.IsZero() {
		body["expires_at"] = expiresAt.UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return Write{}, err
	}
	u, err := c.endpoint("/v1/membership", nil, user, role)
	if err != nil {
		return Write{}, err
	}
	var w Write
	_, err = c.call(ctx, request{method: http.MethodPost, url: u, body: bytes.NewReader(raw), ctype: "application/json", write: true}, &w)
	return w, err
}

// Membership is the answer of [Client.MembershipWindow].
type Membership struct {
	// Result: whether the membership counts now (in its window, if it
	// has one).
	Result bool `json:"result"`
	// StartsAt and ExpiresAt are its window's bounds, zero for none.
	StartsAt  time.Time `json:"starts_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Seq is the seq of the state the answer comes from.
	Seq uint64 `json:"seq"`
}

// MembershipWindow reports whether user is a member of role now, and the
// membership's window if it has one (counting now or not).
func (c *Client) MembershipWindow(ctx context.Context, user, role string, opts ...ReadOption) (Membership, error) {
	if err := nonEmpty("user", user, "role", role); err != nil {
		return Membership{}, err
	}
	u, err := c.endpoint("/v1/membership", readQuery(opts), user, role)
	if err != nil {
		return Membership{}, err
	}
	var m Membership
	m.Seq, err = c.call(ctx, request{method: http.MethodGet, url: u}, &m)
	return m, err
}

// DelMembership removes user from role. Result: true (also when not a
// member).
func (c *Client) DelMembership(ctx context.Context, user, role string) (Write, error) {
	if err := nonEmpty("user", user, "role", role); err != nil {
		return Write{}, err
	}
	return c.write(ctx, http.MethodDelete, "/v1/membership", user, role)
}

// HasMembership reports whether user is a member of role.
func (c *Client) HasMembership(ctx context.Context, user, role string, opts ...ReadOption) (Answer, error) {
	if err := nonEmpty("user", user, "role", role); err != nil {
		return Answer{}, err
	}
	return c.readBool(ctx, "/v1/membership", opts, user, role)
}

// UserHasPermission is the check: whether user has permission through any
// of their roles.
func (c *Client) UserHasPermission(ctx context.Context, user, permission string, opts ...ReadOption) (Answer, error) {
	if err := nonEmpty("user", user, "permission", permission); err != nil {
		return Answer{}, err
	}
	return c.readBool(ctx, "/v1/has_permission", opts, user, permission)
}

// UserPermissions lists the permissions user has through their roles.
func (c *Client) UserPermissions(ctx context.Context, user string, opts ...ReadOption) (List, error) {
	if user == "" {
		return List{}, emptyName("user")
	}
	return c.readList(ctx, "/v1/user_permissions", "results", "name", opts, user)
}

// UserRoles lists the roles user is a member of.
func (c *Client) UserRoles(ctx context.Context, user string, opts ...ReadOption) (List, error) {
	if user == "" {
		return List{}, emptyName("user")
	}
	return c.readList(ctx, "/v1/user_roles", "result", "role", opts, user)
}

// RoleMembers lists the members of role.
func (c *Client) RoleMembers(ctx context.Context, role string, opts ...ReadOption) (List, error) {
	if role == "" {
		return List{}, emptyName("role")
	}
	return c.readList(ctx, "/v1/members", "result", "user", opts, role)
}

// WhichRolesCan lists the roles granted permission.
func (c *Client) WhichRolesCan(ctx context.Context, permission string, opts ...ReadOption) (List, error) {
	if permission == "" {
		return List{}, emptyName("permission")
	}
	return c.readList(ctx, "/v1/which_roles_can", "result", "role", opts, permission)
}

// WhichUsersCan lists the users who have permission.
func (c *Client) WhichUsersCan(ctx context.Context, permission string, opts ...ReadOption) (List, error) {
	if permission == "" {
		return List{}, emptyName("permission")
	}
	return c.readList(ctx, "/v1/which_users_can", "result", "user", opts, permission)
}

func nonEmpty(what1, name1, what2, name2 string) error {
	if name1 == "" {
		return emptyName(what1)
	}
	if name2 == "" {
		return emptyName(what2)
	}
	return nil
}

// AddInclusion makes role include included: role's members get every
// permission of included and of the roles it includes. Result: false if
// either role does not exist, else true (also when already there). An
// inclusion that would make a cycle of roles is refused: an error matching
// [ErrCycle] and [ErrNotApplied].
func (c *Client) AddInclusion(ctx context.Context, role, included string) (Write, error) {
	if err := nonEmpty("role", role, "included", included); err != nil {
		return Write{}, err
	}
	return c.write(ctx, http.MethodPost, "/v1/inclusion", role, included)
}

// DelInclusion removes role's inclusion of included. Result: true.
func (c *Client) DelInclusion(ctx context.Context, role, included string) (Write, error) {
	if err := nonEmpty("role", role, "included", included); err != nil {
		return Write{}, err
	}
	return c.write(ctx, http.MethodDelete, "/v1/inclusion", role, included)
}

// HasInclusion reports whether role includes included directly.
func (c *Client) HasInclusion(ctx context.Context, role, included string, opts ...ReadOption) (Answer, error) {
	if err := nonEmpty("role", role, "included", included); err != nil {
		return Answer{}, err
	}
	return c.readBool(ctx, "/v1/inclusion", opts, role, included)
}

// Inclusions lists the roles role includes directly.
func (c *Client) Inclusions(ctx context.Context, role string, opts ...ReadOption) (List, error) {
	if role == "" {
		return List{}, emptyName("role")
	}
	return c.readList(ctx, "/v1/inclusions", "result", "role", opts, role)
}

// DelUser takes user out of every role, in one event. Result: true.
func (c *Client) DelUser(ctx context.Context, user string) (Write, error) {
	if user == "" {
		return Write{}, emptyName("user")
	}
	return c.write(ctx, http.MethodDelete, "/v1/user", user)
}

// Via is one way a user has a permission: Role is granted it, and Path
// (when the way goes through role inclusions) the roles from one of the
// user's own roles to Role, each including the next.
type Via struct {
	Role string   `json:"role"`
	Path []string `json:"path,omitempty"`
}

// Why answers a check with the ways the user has the permission: each
// role granted it that one of the user's roles is or includes, with the
// shortest path of inclusions to it.
func (c *Client) Why(ctx context.Context, user, permission string, opts ...ReadOption) (Why, error) {
	if err := nonEmpty("user", user, "permission", permission); err != nil {
		return Why{}, err
	}
	u, err := c.endpoint("/v1/why", readQuery(opts), user, permission)
	if err != nil {
		return Why{}, err
	}
	var out Why
	out.Seq, err = c.call(ctx, request{method: http.MethodGet, url: u}, &out)
	return out, err
}

// Why is the answer of [Client.Why].
type Why struct {
	Result bool  `json:"result"`
	Via    []Via `json:"via"`
	// Seq is the seq of the state the answer was read from.
	Seq uint64 `json:"-"`
}
