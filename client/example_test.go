package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"

	"auth/client"
)

// The story of the original README: Sara cooks, Jack dances, both laugh.
func Example() {
	ctx := context.Background()
	c := client.New(serverURL, "pleaSeDoN0tKillMyC_at") // such as http://localhost:4000

	// Three roles, what each may do, who is in which.
	for _, role := range []string{"cookers", "dancers", "laughers"} {
		if _, err := c.AddRole(ctx, role); err != nil {
			log.Fatal(err)
		}
	}
	c.AddPermission(ctx, "cookers", "cook")
	c.AddPermission(ctx, "dancers", "dance")
	c.AddPermission(ctx, "laughers", "laugh")
	c.AddMembership(ctx, "sara", "cookers")
	c.AddMembership(ctx, "sara", "laughers")
	c.AddMembership(ctx, "jack", "dancers")
	w, err := c.AddMembership(ctx, "jack", "laughers")
	if err != nil {
		log.Fatal(err)
	}

	// Read at least what was written, from whichever replica answers.
	jack, _ := c.UserHasPermission(ctx, "jack", "dance", client.MinSeq(w.Seq))
	sara, _ := c.UserHasPermission(ctx, "sara", "dance", client.MinSeq(w.Seq))
	fmt.Println("jack can dance:", jack.Result)
	fmt.Println("sara can dance:", sara.Result)

	perms, _ := c.UserPermissions(ctx, "sara")
	fmt.Println("sara may:", perms.Names)
	laughers, _ := c.WhichUsersCan(ctx, "laugh")
	fmt.Println("who laughs:", laughers.Names)
	roles, _ := c.Roles(ctx)
	fmt.Println("roles:", roles.Names, "at seq", roles.Seq)
	// Output:
	// jack can dance: true
	// sara can dance: false
	// sara may: [cook laugh]
	// who laughs: [jack sara]
	// roles: [cookers dancers laughers] at seq 10
}

// Many checks in one round trip, answered from one state.
func ExampleClient_Check() {
	ctx := context.Background()
	c := client.New(serverURL, "example-check-key")
	c.AddRole(ctx, "dancers")
	c.AddPermission(ctx, "dancers", "dance")
	c.AddMembership(ctx, "jack", "dancers")

	answers, err := c.Check(ctx, []client.Check{
		{User: "jack", Permission: "dance"},
		{User: "sara", Permission: "dance"},
		{User: "jack", Permission: "cook"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(answers.Results, "at seq", answers.Seq)
	// Output:
	// [true false false] at seq 3
}

// The tenant's events: what changed, in what order.
func ExampleClient_Events() {
	ctx := context.Background()
	c := client.New(serverURL, newTenant("events"))
	c.AddRole(ctx, "dancers")
	c.AddPermission(ctx, "dancers", "dance")
	c.AddMembership(ctx, "jack", "dancers")
	c.DelRole(ctx, "dancers")

	for after := uint64(0); ; {
		page, err := c.Events(ctx, client.EventsQuery{After: after, Limit: 2})
		if err != nil {
			log.Fatal(err)
		}
		if len(page.Events) == 0 {
			break
		}
		for _, ev := range page.Events {
			fmt.Println(ev)
			after = ev.Seq
		}
	}
	// Output:
	// 1 add_role role=dancers
	// 2 add_permission role=dancers permission=dance
	// 3 add_membership role=dancers user=jack
	// 4 del_role role=dancers
}

// Follow the events as they happen.
func ExampleClient_Watch() {
	ctx := context.Background()
	c := client.New(serverURL, newTenant("watch"))
	c.AddRole(ctx, "dancers")

	errEnough := errors.New("enough")
	done := make(chan error)
	go func() {
		n := 0
		done <- c.Watch(ctx, 0, func(ev client.Event) error {
			fmt.Println(ev.Seq, ev.Op, ev.Role)
			if n++; n == 3 {
				return errEnough
			}
			return nil
		})
	}()
	c.AddRole(ctx, "cookers")
	c.DelRole(ctx, "dancers")
	fmt.Println(<-done)
	// Output:
	// 1 add_role dancers
	// 2 add_role cookers
	// 3 del_role dancers
	// enough
}

// Copy a tenant: export it, import it under another key.
func ExampleClient_Export() {
	ctx := context.Background()
	src := client.New(serverURL, newTenant("export"))
	src.AddRole(ctx, "dancers")
	src.AddPermission(ctx, "dancers", "dance")
	src.AddMembership(ctx, "jack", "dancers")

	var buf bytes.Buffer
	seq, err := src.Export(ctx, &buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("exported at seq %d:\n%s", seq, buf.Bytes())

	dst := client.New(serverURL, newTenant("import"))
	imported, err := dst.Import(ctx, &buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("imported %+v\n", imported)
	can, _ := dst.UserHasPermission(ctx, "jack", "dance", client.MinSeq(imported.Seq))
	fmt.Println("jack can dance:", can.Result)
	// Output:
	// exported at seq 3:
	// {"role": "dancers"}
	// {"role": "dancers", "permission": "dance"}
	// {"role": "dancers", "user": "jack"}
	// imported {Seq:1 Roles:1 Permissions:1 Memberships:1 Inclusions:0}
	// jack can dance: true
}

// Read an export (or any JSON lines of facts) fact by fact.
func ExampleReadFacts() {
	lines := `{"role": "dancers"}
{"role": "dancers", "permission": "dance"}
{"role": "dancers", "user": "jack"}
`
	for f, err := range client.ReadFacts(bytes.NewReader([]byte(lines))) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%+v\n", f)
	}
	// Output:
	// {Role:dancers Permission: User: Includes: StartsAt: ExpiresAt:}
	// {Role:dancers Permission:dance User: Includes: StartsAt: ExpiresAt:}
	// {Role:dancers Permission: User:jack Includes: StartsAt: ExpiresAt:}
}

// Errors match sentinels by status.
func ExampleError() {
	ctx := context.Background()
	c := client.New(serverURL, "") // no key
	_, err := c.Roles(ctx)
	fmt.Println(errors.Is(err, client.ErrUnauthorized))

	c = client.New(serverURL, "example-error-key")
	_, err = c.AddRole(ctx, "tab\tname")
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.StatusCode, e.Message, errors.Is(err, client.ErrBadRequest))
	}
	// Output:
	// true
	// 400 role: name contains a control character true
}
