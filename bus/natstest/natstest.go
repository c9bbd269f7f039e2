// Package natstest runs a real NATS server in-process for tests, on a
// random loopback port, that can be stopped and started again on the same
// port. Only tests and test harnesses (internal/history) import it.
package natstest

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is an in-process NATS server.
type Server struct {
	t    testing.TB // nil for a server of Run
	mu   sync.Mutex
	port int
	srv  *server.Server
}

// Start starts a server that is stopped when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	n, err := Run()
	if err != nil {
		t.Fatal(err)
	}
	n.t = t
	t.Cleanup(n.Stop)
	return n
}

// Run starts a server outside a test (a harness's); its caller stops it.
func Run() (*Server, error) {
	n := &Server{port: server.RANDOM_PORT}
	if err := n.Restart(); err != nil {
		return nil, err
	}
	n.port = n.srv.Addr().(*net.TCPAddr).Port
	return n, nil
}

// URL is the server's client URL; it stays the same across restarts.
func (n *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// Start starts the server, again on the same port after a Stop, and fails
// the test if it cannot.
func (n *Server) Start() {
	n.t.Helper()
	if err := n.Restart(); err != nil {
		n.t.Fatal(err)
	}
}

// Restart starts the server, again on the same port after a Stop. The port
// was ours a moment ago, but the old socket may linger: it tries for a few
// seconds.
func (n *Server) Restart() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: n.port, NoLog: true, NoSigs: true})
		if err != nil {
			return fmt.Errorf("nats server: %w", err)
		}
		go srv.Start()
		if srv.ReadyForConnections(5 * time.Second) {
			n.srv = srv
			return nil
		}
		srv.Shutdown()
		srv.WaitForShutdown()
		if time.Now().After(deadline) {
			return fmt.Errorf("nats server did not start on port %d", n.port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down; clients see their connection drop.
func (n *Server) Stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv == nil {
		return
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}
