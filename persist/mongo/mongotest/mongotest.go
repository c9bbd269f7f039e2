// Package mongotest gives tests a MongoDB server: the one named by the
// MONGO_URI environment variable if it is set, otherwise a FerretDB server
// (a MongoDB wire-protocol server storing its data in SQLite) that it builds
// from the launcher module in internal/testmongo and starts for the test.
//
// It is for tests only. It never skips: when the launcher cannot be built or
// started the test fails and says why, so that a test run without a server
// cannot pass by testing nothing.
//
// The launcher is its own Go module so that FerretDB's dependencies stay out
// of the root module; it is built with `go build` into a folder under the
// system's temporary folder, under a name made from a hash of its sources
// and the toolchain's version, once: a test binary that finds the binary
// of its sources there uses it without building. (Old versions' binaries
// stay there until the folder is cleaned.)
//
// [StartTLS] starts a server that speaks TLS only, for tests of TLS
// connections to MongoDB.
package mongotest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	mongostore "auth/persist/mongo"
)

// EnvURI names the environment variable that points tests at a real
// MongoDB server instead of the launcher. Each test then uses a database of
// its own, dropped when the test ends.
const EnvURI = "MONGO_URI"

// startTimeout bounds the wait for a started launcher to print its URI.
const startTimeout = 60 * time.Second

// URI returns the URI of a server for t: the one in MONGO_URI if set,
// otherwise a fresh launcher server stopped when t ends. Pair it with
// [Database] for a database of the test's own.
func URI(t testing.TB) string {
	t.Helper()
	if uri := os.Getenv(EnvURI); uri != "" {
		return uri
	}
	return Start(t).URI()
}

// Database returns a database name unique to this call, derived from the
// test's name.
func Database(t testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, t.Name())
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	return "t" + hex.EncodeToString(b[:]) + "_" + name
}

// Config returns a store configuration for a fresh database on the server
// that [URI] gives. On a server from MONGO_URI the database is dropped when
// t ends.
func Config(t testing.TB) mongostore.Config {
	t.Helper()
	cfg := mongostore.DefaultConfig(URI(t))
	cfg.Database = Database(t)
	if os.Getenv(EnvURI) != "" {
		t.Cleanup(func() { drop(t, cfg) })
	}
	return cfg
}

func drop(t testing.TB, cfg mongostore.Config) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(cfg.URI))
	if err != nil {
		t.Logf("mongotest: drop %s: %v", cfg.Database, err)
		return
	}
	defer client.Disconnect(ctx)
	if err := client.Database(cfg.Database).Drop(ctx); err != nil {
		t.Logf("mongotest: drop %s: %v", cfg.Database, err)
	}
}

// Server is a launcher process serving one data folder on one port. Stop
// and Start restart it on the same folder and port, with its data: an
// outage that clients must recover from.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	uri  string
	args []string // the launcher's options beyond folder and port

	mu   sync.Mutex
	proc *process // nil while stopped
}

type process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tailBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // the exit status, once done is closed
}

// Start builds the launcher (once per test binary) and starts a server on a
// fresh data folder and a random port. It is stopped when t ends. Start
// ignores MONGO_URI: tests that stop and restart the server need one they
// control.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: Launcher(t), dir: t.TempDir()}
	t.Cleanup(func() { s.Stop() })
	s.Start()
	return s
}

// TLS names the files of a server that speaks TLS only.
type TLS struct {
	// CertFile and KeyFile are the server's certificate and key (PEM).
	CertFile, KeyFile string
	// CAFile, if set, makes the server require client certificates
	// signed by the CA it holds.
	CAFile string
}

// StartTLS is Start for a server that accepts TLS connections only, with
// the certificate of files. Its URI says tls=true; a client must trust
// the certificate's CA (tlsCAFile in the URI, or its own TLS
// configuration).
func StartTLS(t testing.TB, files TLS) *Server {
	t.Helper()
	s := &Server{t: t, bin: Launcher(t), dir: t.TempDir(),
		args: []string{"-tls-cert", files.CertFile, "-tls-key", files.KeyFile}}
	if files.CAFile != "" {
		s.args = append(s.args, "-tls-ca", files.CAFile)
	}
	t.Cleanup(func() { s.Stop() })
	s.Start()
	return s
}

// URI returns the server's MongoDB URI; it stays the same across restarts.
func (s *Server) URI() string { return s.uri }

// Addr returns the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Start starts the stopped server again on its folder and port. It fails
// the test if the server does not come up.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.t.Fatal("mongotest: Start on a running server")
	}
	// The port was free a moment ago; after a restart another process
	// could have taken it, or the old socket may linger, so try a few
	// times before giving up.
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		var p *process
		var uri string
		p, uri, err = s.launch()
		if err == nil {
			s.proc = p
			if s.uri == "" {
				s.uri = uri
				u, perr := url.Parse(uri)
				if perr != nil {
					s.t.Fatalf("mongotest: launcher printed %q: %v", uri, perr)
				}
				s.port, _ = strconv.Atoi(u.Port())
			}
			return
		}
		if s.port == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("mongotest: start the MongoDB test server (FerretDB): %v", err)
}

func (s *Server) launch() (*process, string, error) {
	cmd := exec.Command(s.bin, append([]string{"-dir", s.dir, "-port", strconv.Itoa(s.port)}, s.args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	p := &process{cmd: cmd, stdin: stdin, stderr: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("run %s: %w", s.bin, err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case line, ok := <-lines:
		if ok && strings.HasPrefix(line, "mongodb://") {
			return p, line, nil
		}
		p.kill()
		return nil, "", fmt.Errorf("launcher printed no URI (%q); its stderr:\n%s", line, p.stderr)
	case <-timer.C:
		p.kill()
		return nil, "", fmt.Errorf("launcher printed no URI within %v; its stderr:\n%s", startTimeout, p.stderr)
	}
}

// Stop stops the server at once, as a crash would: its clients' connections
// are reset, and every write it acknowledged is kept. Stopping a stopped
// server does nothing.
func (s *Server) Stop() {
	s.stop(func(p *process) { _ = p.stdin.Close() })
}

// GracefulStop stops the server as FerretDB shuts down: it refuses new
// connections and gives connected clients up to 3 seconds to finish.
func (s *Server) GracefulStop() {
	s.stop(func(p *process) { _ = p.cmd.Process.Signal(syscall.SIGTERM) })
}

func (s *Server) stop(how func(*process)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	p := s.proc
	s.proc = nil
	how(p)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		s.t.Errorf("mongotest: server did not stop within 15s; killing it. Its stderr:\n%s", p.stderr)
		p.kill()
	}
}

func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	_ = p.stdin.Close()
	<-p.done
}

var build struct {
	sync.Mutex
	path string
	err  error
}

// Launcher returns the path of the launcher binary, building it on the first
// call in this test binary. A build failure fails t (and every later call).
func Launcher(t testing.TB) string {
	t.Helper()
	build.Lock()
	defer build.Unlock()
	if build.path == "" && build.err == nil {
		build.path, build.err = buildLauncher()
	}
	if build.err != nil {
		t.Fatalf("mongotest: build the MongoDB test server launcher: %v", build.err)
	}
	return build.path
}

func buildLauncher() (string, error) {
	src, err := launcherDir()
	if err != nil {
		return "", err
	}
	outDir := filepath.Join(os.TempDir(), "auth-testmongo")
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return "", err
	}
	// The binary is named after its sources (and the toolchain), so that
	// checkouts of different versions of the launcher on one machine, each
	// building into this folder, never run each other's; and a binary
	// already there is the one these sources build, used as it is (asking
	// go build whether it is up to date takes seconds: FerretDB has
	// hundreds of packages).
	version, err := sourceHash(src)
	if err != nil {
		return "", err
	}
	out := filepath.Join(outDir, "testmongo-"+version)
	// The lock keeps test binaries that start together from compiling
	// FerretDB twice at once.
	unlock, err := lockFile(filepath.Join(outDir, "build.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	// Built aside and renamed, so that an interrupted build leaves no
	// binary under the name.
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	cmd := exec.Command("go", "build", "-buildvcs=false", "-o", tmp, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("go build in %s: %w\n%s", src, err, buf.String())
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	return out, nil
}

// sourceHash is a short hash of the launcher's sources.
func sourceHash(dir string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", runtime.Version())
	for _, name := range []string{"go.mod", "go.sum", "main.go"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "", fmt.Errorf("launcher module: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", name, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)[:6]), nil
}

// launcherDir finds internal/testmongo from the root module's go.mod.
func launcherDir() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the root module (go env GOMOD is empty)")
	}
	dir := filepath.Join(filepath.Dir(gomod), "internal", "testmongo")
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return "", fmt.Errorf("launcher module: %w", err)
	}
	return dir, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *tailBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if over := len(w.b) - w.max; over > 0 {
		w.b = append(w.b[:0], w.b[over:]...)
	}
	return len(p), nil
}

func (w *tailBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}
