package client_test

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"auth/client/clienttest"
)

// serverURL is a real server shared by the examples and the benchmarks;
// each uses its own key, so its own tenant.
var serverURL string

var tenants atomic.Int64

// newTenant returns a key no one has used yet on the shared server, so
// that an example whose output depends on the tenant's history (events,
// seqs) gives the same output when tests run more than once (-count).
func newTenant(name string) string {
	return fmt.Sprintf("example-%s-%d", name, tenants.Add(1))
}

func TestMain(m *testing.M) {
	srv, err := clienttest.Start("")
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the server:", err)
		os.Exit(1)
	}
	serverURL = srv.URL
	code := m.Run()
	if err := srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the server:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
