package engine_test

import (
	"fmt"

	"auth/engine"
)

// The story of the original README: Sara can cook and Jack can dance; both
// can laugh.
func Example() {
	e := engine.New()
	const key = "pleaSeDoN0tKillMyC_at"

	// Groups are roles.
	for _, role := range []string{"cookers", "dancers", "laughers"} {
		e.AddRole(key, role)
	}
	e.AddPermission(key, "cookers", "cook")
	e.AddPermission(key, "dancers", "dance")
	e.AddPermission(key, "laughers", "laugh")

	e.AddMembership(key, "sara", "cookers")
	e.AddMembership(key, "sara", "laughers")
	e.AddMembership(key, "jack", "dancers")
	e.AddMembership(key, "jack", "laughers")

	if e.UserHasPermission(key, "jack", "dance") {
		fmt.Println("YES! jack can dance.")
	}
	fmt.Println("sara can dance:", e.UserHasPermission(key, "sara", "dance"))
	fmt.Println("sara can cook:", e.UserHasPermission(key, "sara", "cook"))
	fmt.Println("who can laugh:", e.WhichUsersCan(key, "laugh"))
	fmt.Println("which roles can cook:", e.WhichRolesCan(key, "cook"))
	fmt.Println("sara's permissions:", e.UserPermissions(key, "sara"))
	fmt.Println("jack's roles:", e.UserRoles(key, "jack"))
	fmt.Println("laughers:", e.RoleMembers(key, "laughers"))
	fmt.Println("roles:", e.Roles(key))

	// The original API's answers: adding a role that exists answers false,
	// granting to a role that does not exist answers false.
	fmt.Println(e.AddRole(key, "cookers"))
	fmt.Println(e.AddPermission(key, "singers", "sing"))

	// Make jack an admin; sara can still cook.
	e.AddRole(key, "admin")
	e.AddMembership(key, "jack", "admin")
	fmt.Println("jack's roles:", e.UserRoles(key, "jack"))
	fmt.Println("sara can still cook:", e.UserHasPermission(key, "sara", "cook"))

	// Deleting a role takes its grants and memberships with it.
	e.DelRole(key, "laughers")
	fmt.Println("who can laugh now:", e.WhichUsersCan(key, "laugh"))
	fmt.Println("sara's roles:", e.UserRoles(key, "sara"))

	// Another key is another tenant.
	fmt.Println("another key's roles:", e.Roles("another secret"))

	// Output:
	// YES! jack can dance.
	// sara can dance: false
	// sara can cook: true
	// who can laugh: [jack sara]
	// which roles can cook: [cookers]
	// sara's permissions: [cook laugh]
	// jack's roles: [dancers laughers]
	// laughers: [jack sara]
	// roles: [cookers dancers laughers]
	// false <nil>
	// false <nil>
	// jack's roles: [admin dancers laughers]
	// sara can still cook: true
	// who can laugh now: []
	// sara's roles: [cookers]
	// another key's roles: []
}
