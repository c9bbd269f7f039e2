package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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

// describeSource names what auth-server was built from: a commit, and
// whether the working tree had changes on top of it.
func describeSource(ctx context.Context, root, rev string) string {
	r := rev
	if r == "" {
		r = "HEAD"
	}
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", r).Output()
	if err != nil {
		return "unknown"
	}
	commit := "commit " + strings.TrimSpace(string(out))
	if rev != "" {
		return commit
	}
	st, _ := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--", ".", ":!bench").Output()
	if len(bytes.TrimSpace(st)) > 0 {
		return "working tree on " + commit + ", with uncommitted changes"
	}
	return "working tree at " + commit
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
	cgroup  string         // the CPU-quota cgroup the process was put in, if any
	stdin   io.WriteCloser // kept open for a process that stops when it closes
}

// cpuCgroupRoot is the cgroup v1 CPU controller.
const cpuCgroupRoot = "/sys/fs/cgroup/cpu"

// limitCPU caps the process at quota CPUs (0.35: 35% of one CPU) with a CFS
// quota over a 10 ms period, in a cgroup of its own. It makes a server the
// bottleneck on a machine too small to give the load generator more cores
// than the server.
func (p *proc) limitCPU(quota float64) error {
	const period = 10_000 // µs
	dir := filepath.Join(cpuCgroupRoot, fmt.Sprintf("authbench-%d", p.pid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("cpu quota: %w (needs root and the cgroup v1 cpu controller)", err)
	}
	p.cgroup = dir
	for _, w := range []struct{ file, val string }{
		{"cpu.cfs_period_us", strconv.Itoa(period)},
		{"cpu.cfs_quota_us", strconv.Itoa(int(quota * period))},
		{"cgroup.procs", strconv.Itoa(p.pid())},
	} {
		if err := os.WriteFile(filepath.Join(dir, w.file), []byte(w.val), 0o644); err != nil {
			return fmt.Errorf("cpu quota: %s: %w", w.file, err)
		}
	}
	return nil
}

// joinCgroup puts p into other's CPU-quota cgroup, so that the quota caps
// them together.
func (p *proc) joinCgroup(other *proc) error {
	if other.cgroup == "" {
		return nil
	}
	if err := os.WriteFile(filepath.Join(other.cgroup, "cgroup.procs"), []byte(strconv.Itoa(p.pid())), 0o644); err != nil {
		return fmt.Errorf("cpu quota: %w", err)
	}
	p.cgroup = other.cgroup
	return nil
}

// removeCgroup removes the process's cgroup once it has exited.
func (p *proc) removeCgroup() {
	if p.cgroup != "" {
		if err := os.Remove(p.cgroup); err == nil {
			p.cgroup = ""
		}
	}
}

// startProc starts bin with args, pinned to the CPUs cpus (a taskset
// list; "" for no pinning), with its output in logPath.
func startProc(name, bin string, args []string, addr, cpus, logPath string) (*proc, error) {
	return startProcStdin(name, bin, args, addr, cpus, logPath, false)
}

// startProcStdin is startProc, with the process's standard input kept open
// until stop if keepStdin.
func startProcStdin(name, bin string, args []string, addr, cpus, logPath string, keepStdin bool) (*proc, error) {
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
	if keepStdin {
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			logf.Close()
			return nil, err
		}
	}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		p.removeCgroup()
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

// waitTCP waits until p accepts TCP connections on its address.
func (p *proc) waitTCP(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before accepting connections (%v): %s", p.name, p.waitErr, p.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not accept connections within %s: %s", p.name, timeout, p.logTail())
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
	if p.stdin != nil {
		p.stdin.Close()
	}
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

// buildServer makes a work folder named for what runs in it and builds
// auth-server into it, from revision rev of the repository at root (found
// from the working folder if empty), or from the working tree. The caller
// removes work. It returns the repository root too.
func buildServer(ctx context.Context, root, rev, name string) (work, bin, r string, err error) {
	if r, err = findRoot(root); err != nil {
		return "", "", "", err
	}
	if work, err = os.MkdirTemp("", "authbench-"+name+"-"); err != nil {
		return "", "", "", err
	}
	bin = filepath.Join(work, "auth-server")
	src, err := serverSource(ctx, r, rev, work)
	if err == nil {
		logf("building auth-server")
		err = goBuild(ctx, src, "./cmd/auth-server", bin)
	}
	if err != nil {
		os.RemoveAll(work)
		return "", "", "", err
	}
	return work, bin, r, nil
}
