package httpapi

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"auth/engine"
)

// BenchmarkMembersPage300k: GET /v1/members/{role}?limit=100 of a role of
// 300k members (added in a random order), through the server's whole
// handler as fasthttp calls it for a parsed request: the server-side cost
// of the console's first page of members, and of a page after a cursor.
// Its baseline, in the same run, is the whole list (GET without limit,
// which sorts every name): compare the sub-benchmarks' ns/op.
func BenchmarkMembersPage300k(b *testing.B) {
	srv, rep := newInternalServer(b)
	const n = 300_000
	changes := []engine.Change{{Op: engine.OpAddRole, Role: "big"}}
	for _, i := range rand.New(rand.NewPCG(7, 8)).Perm(n) {
		changes = append(changes, engine.Change{Op: engine.OpAddMembership, Role: "big", User: fmt.Sprintf("user-%08d@example.com", i)})
	}
	if _, err := rep.WriteBatch(context.Background(), "key", changes); err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	run := func(name, uri, wantPrefix string) {
		b.Run(name, func(b *testing.B) {
			ctx := request("GET", uri)
			ctx.Request.Header.Set("Authorization", "Bearer key")
			for b.Loop() {
				ctx.Response.Reset()
				h(ctx)
			}
			if body := string(ctx.Response.Body()); ctx.Response.StatusCode() != 200 || !strings.HasPrefix(body, wantPrefix) {
				b.Fatalf("GET %s = %d %.100s", uri, ctx.Response.StatusCode(), body)
			}
		})
	}
	run("first-page", "/v1/members/big?limit=100", `{"result": [{"user": "user-00000000@example.com"}`)
	run("page-after", "/v1/members/big?limit=100&after=user-00150000%40example.com", `{"result": [{"user": "user-00150001@example.com"}`)
	run("baseline-whole-list", "/v1/members/big", `{"result": [{"user": "user-00000000@example.com"}`)
}
