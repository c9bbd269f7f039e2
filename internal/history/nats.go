package history

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// natsServer is a NATS server in the harness's process, on a loopback
// port that stays the same across a stop and a start, so that replicas
// reconnect to it as they would to a restarted server.
type natsServer struct {
	mu   sync.Mutex
	port int
	srv  *server.Server // nil while stopped
}

// startNATS starts a server on a free loopback port.
func startNATS() (*natsServer, error) {
	n := &natsServer{port: server.RANDOM_PORT}
	if err := n.start(); err != nil {
		return nil, err
	}
	n.port = n.srv.Addr().(*net.TCPAddr).Port
	return n, nil
}

func (n *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// start starts the stopped server again on its port. The port was ours a
// moment ago, but the old socket may linger: it tries for a few seconds.
func (n *natsServer) start() error {
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

// stop shuts the server down at once: clients see their connections drop.
func (n *natsServer) stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv == nil {
		return
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}
