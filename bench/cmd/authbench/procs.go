package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// findRoot returns the repository root: the folder whose go.mod is module
// auth, given explicitly or found from the working folder (bench/ or the
// root itself).
func findRoot(flagged string) (string, error) {
	cands := []string{flagged}
	if flagged == "" {
		cands = []string{"..", "."}
	}
	for _, c := range cands {
		b, err := os.ReadFile(filepath.Join(c, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module auth\n")) {
			return filepath.Abs(c)
		}
	}
	return "", errors.New("cannot find the repository root (module auth); run from bench/ or pass -root")
}

// serverSource returns the folder to build auth-server from: the
// repository's working tree (rev ""), or revision rev exported with git
// archive into work (the working tree, index and branches are not touched),
// for measuring a committed state while the tree is being edited.
func serverSource(ctx context.Context, root, rev, work string) (string, error) {
	if rev == "" {
		return root, nil
	}
	dst := filepath.Join(work, "src")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", root, rev, dst)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("exporting %s: %w", rev, err)
	}
	return dst, nil
}

// goBuild builds pkg of the module in dir into out.
func goBuild(ctx context.Context, dir, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}

// freeAddr returns a free 127.0.0.1 port.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// proc is a server the benchmark started.
type proc struct {
	name    string
	addr    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	waitErr error
	started time.Time
}

// startProc starts bin with args, pinned to the CPUs cpus (a taskset
// list; "" for no pinning), with its output in logPath.
func startProc(name, bin string, args []string, addr, cpus, logPath string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	argv := append([]string{bin}, args...)
	if cpus != "" {
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = os.Environ()
	p := &proc{name: name, addr: addr, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	return p, nil
}

// pid is the server's pid. taskset execs the program, so it is the same
// process.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// waitReady polls GET /ping until it answers 200 and returns the time since
// the process started.
func (p *proc) waitReady(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + p.addr + "/ping")
	for {
		err := fasthttp.DoTimeout(req, resp, time.Second)
		if err == nil && resp.StatusCode() == 200 {
			return time.Since(p.started), nil
		}
		select {
		case <-p.exited:
			return 0, fmt.Errorf("%s exited before answering /ping (%v): %s", p.name, p.waitErr, p.logTail())
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s did not answer /ping within %s: %s", p.name, timeout, p.logTail())
		}
	}
}

// stop sends SIGTERM and waits for the process to exit, killing it after
// 30 s.
func (p *proc) stop() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s had already exited (%v): %s", p.name, p.waitErr, p.logTail())
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within 30s of SIGTERM; killed", p.name)
	}
	if p.waitErr != nil {
		return fmt.Errorf("%s: %v: %s", p.name, p.waitErr, p.logTail())
	}
	return nil
}

func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// pinSelf re-executes this command under taskset on cpu, so that the whole
// load generator (every thread, and GOMAXPROCS) stays on that CPU while the
// servers run on the others. It returns false if it did not (already
// pinned, or taskset missing); otherwise it does not return.
func pinSelf(cpu int) bool {
	if os.Getenv("AUTHBENCH_PINNED") != "" {
		return false
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		logf("taskset not found; not pinning")
		return false
	}
	self, err := os.Executable()
	if err != nil {
		return false
	}
	cmd := exec.Command(taskset, append([]string{"-c", strconv.Itoa(cpu), self}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "AUTHBENCH_PINNED=1")
	if err := cmd.Start(); err != nil {
		logf("taskset: %v; not pinning", err)
		return false
	}
	// Signals reach the child through the terminal's process group; wait.
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		os.Exit(ee.ExitCode())
	}
	if err != nil {
		logf("pinned run: %v", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}
