// Package natstest runs a real NATS server in-process for tests, on a
// random loopback port, that can be stopped and started again on the same
// port. Only tests import it.
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
	t    testing.TB
	mu   sync.Mutex
	port int
	srv  *server.Server
}

// Start starts a server that is stopped when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	n := &Server{t: t, port: server.RANDOM_PORT}
	n.Start()
	n.port = n.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(n.Stop)
	return n
}

// URL is the server's client URL; it stays the same across restarts.
func (n *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// Start starts the server, again on the same port after a Stop.
func (n *Server) Start() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		srv, err := server.NewServer(&server.Options{
			Host:   "127.0.0.1",
			Port:   n.port,
			NoLog:  true,
			NoSigs: true,
		})
		if err != nil {
			n.t.Fatalf("nats server: %v", err)
		}
		go srv.Start()
		if srv.ReadyForConnections(5 * time.Second) {
			n.srv = srv
			return
		}
		srv.Shutdown()
		srv.WaitForShutdown()
		if time.Now().After(deadline) {
			n.t.Fatalf("nats server did not start on port %d", n.port)
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
