package live_test

import (
	"context"
	"fmt"
	"log"

	"auth/client/clienttest"
	"auth/client/live"
)

// A service keeps its tenant in its own memory: checks answer locally,
// and a write made through the server is read back after Wait.
func Example() {
	srv, err := clienttest.Start("") // a real auth-server, in this process
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()

	r, err := live.Open(ctx, srv.URL, "pleaSeDoN0tKillMyC_at", live.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	c := r.Client() // writes go to the server
	c.AddRole(ctx, "cookers")
	c.AddPermission(ctx, "cookers", "cook")
	w, err := c.AddMembership(ctx, "sara", "cookers")
	if err != nil {
		log.Fatal(err)
	}
	if err := r.Wait(ctx, w.Seq); err != nil { // read your write
		log.Fatal(err)
	}
	ok, err := r.Check("sara", "cook") // from memory: no network hop
	fmt.Println(ok, err)
	ok, err = r.Check("jack", "cook")
	fmt.Println(ok, err)
	roles, _ := r.UserRoles("sara")
	fmt.Println(roles, r.Seq())
	// Output:
	// true <nil>
	// false <nil>
	// [cookers] 3
}
