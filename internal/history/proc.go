package history

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process of the harness. Its output goes to a log file
// (kept for whoever debugs a failure) and its last lines to memory, for
// error messages.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser // kept open for a child that exits when it closes
	tail   *tailBuffer
	exited chan struct{} // closed once the process has exited
	err    error         // its exit status, once exited is closed
}

// errExited is returned for a signal to a process that has already exited.
var errExited = errors.New("process has exited")

// startProc starts bin with args, its output appended to logPath. Every
// line of output is also passed to onLine (if not nil), from one goroutine.
func startProc(name, bin string, args []string, logPath string, keepStdin bool, onLine func(string)) (*proc, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logFile, "=== %s %s %s\n", time.Now().Format(time.RFC3339Nano), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	// Only what the harness passes configures a server: clear the
	// variables auth-server reads from a developer's environment.
	cmd.Env = append(os.Environ(), "AUTH_ADDR=", "AUTH_DATA=", "MONGO_URI=", "MONGO_HOST=", "MONGO_PORT=", "MONGO_DB=", "NATS_URL=", "AUTH_LOG_LEVEL=", "AUTH_ACCESS_LOG=")
	setDeathSignal(cmd)
	p := &proc{name: name, cmd: cmd, tail: &tailBuffer{max: 16 << 10}, exited: make(chan struct{})}
	out, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd.Stderr = cmd.Stdout // one pipe, one reader: lines stay whole
	if keepStdin {
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			logFile.Close()
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			p.tail.WriteString(line + "\n")
			if onLine != nil {
				onLine(line)
			}
		}
		_, _ = io.Copy(io.Discard, out)
		p.err = cmd.Wait()
		fmt.Fprintf(logFile, "=== %s exited: %v\n", time.Now().Format(time.RFC3339Nano), p.err)
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// signal sends sig unless the process has exited.
func (p *proc) signal(sig syscall.Signal) error {
	if !p.alive() {
		return fmt.Errorf("%s: %w (%v): %s", p.name, errExited, p.err, p.tail)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	return nil
}

// kill sends SIGKILL (after SIGCONT, in case the process is stopped) and
// waits for the exit.
func (p *proc) kill() {
	if p.alive() {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Kill()
	}
	if p.stdin != nil {
		p.stdin.Close()
	}
	<-p.exited
}

// terminate sends SIGTERM and waits up to grace for the exit, then kills.
// It reports an exit that was not clean.
func (p *proc) terminate(grace time.Duration) error {
	if !p.alive() {
		return fmt.Errorf("%s: %w (%v): %s", p.name, errExited, p.err, p.tail)
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if p.stdin != nil {
		p.stdin.Close()
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
		if p.err != nil {
			return fmt.Errorf("%s exited with %v after SIGTERM: %s", p.name, p.err, p.tail)
		}
		return nil
	case <-t.C:
		p.kill()
		return fmt.Errorf("%s did not exit within %v of SIGTERM; killed: %s", p.name, grace, p.tail)
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *tailBuffer) WriteString(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, s...)
	if over := len(w.b) - w.max; over > 0 {
		w.b = append(w.b[:0], w.b[over:]...)
	}
}

func (w *tailBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}
