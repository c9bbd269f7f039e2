package client_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"auth/client"
	"auth/engine"
)

// TestOpsAreTheEngines: the client's ops and Change fields are the
// engine's op table and field table, so that an op or a field added to
// the engine fails here until the client has it. (The client does not
// import the engine: a program using it needs none of the server's code.)
func TestOpsAreTheEngines(t *testing.T) {
	got := []string{client.OpAddRole, client.OpDelRole, client.OpAddPermission, client.OpDelPermission,
		client.OpAddMembership, client.OpDelMembership, client.OpBatch, client.OpClear,
		client.OpAddInclusion, client.OpDelInclusion, client.OpDelUser, client.OpAddKey, client.OpDelKey, client.OpDelTenant,
		client.OpAddMembershipWindow, client.OpSweepWindows}
	var want []string
	for _, op := range engine.Ops() {
		want = append(want, op.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("client ops %q, engine ops %q", got, want)
	}
	var fields []string
	ct := reflect.TypeOf(client.Change{})
	for i := 0; i < ct.NumField(); i++ {
		fields = append(fields, strings.Split(ct.Field(i).Tag.Get("json"), ",")[0])
	}
	wantFields := []string{"op"}
	for _, f := range engine.Fields() {
		wantFields = append(wantFields, f.String())
	}
	if !slices.Equal(fields, wantFields) {
		t.Errorf("client.Change's JSON fields %q, engine's %q", fields, wantFields)
	}
}
