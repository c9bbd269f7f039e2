package main

import (
	"bytes"
	"context"
	byteorder "encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"auth/engine"
	"auth/persist/bolt"
	"auth/persist/bolt/bolttest"
)

// runOnce runs the auth-server binary with args to its end (at most
// limit), and returns its exit code, stdout, stderr and how long it took.
func runOnce(t *testing.T, limit time.Duration, args ...string) (int, string, string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "AUTH_ADDR=", "AUTH_DATA=", "MONGO_URI=", "MONGO_HOST=", "MONGO_PORT=", "NATS_URL=", "AUTH_ADMIN_ADDR=", "AUTH_ADMIN_TOKEN=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	begin := time.Now()
	err := cmd.Run()
	took := time.Since(begin)
	if ctx.Err() != nil {
		t.Fatalf("auth-server %q did not end within %v:\n%s%s", args, limit, stdout.String(), stderr.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String(), took
}

// stackTrace matches what a Go crash prints: a goroutine header, a frame's
// file and line, a signal.
var stackTrace = regexp.MustCompile(`goroutine \d+ \[|\.go:\d+|SIGSEGV|SIGBUS|fatal error|panic:`)

var roles300 struct {
	sync.Once
	file []byte
}

// dataWith300Roles returns the data file of a server that was given 300
// roles over HTTP and stopped, as in the issue; written once.
func dataWith300Roles(t *testing.T) []byte {
	roles300.Do(func() {
		dir := t.TempDir()
		p := start(t, dir)
		for i := range 300 {
			p.expect("POST", fmt.Sprintf("/api/role/%s/role-%03d", key, i), `{"result": true}`)
		}
		p.stop()
		b, err := os.ReadFile(filepath.Join(dir, bolt.FileName))
		if err != nil {
			t.Fatal(err)
		}
		roles300.file = b
	})
	if roles300.file == nil {
		t.Fatal("the data file with 300 roles could not be written")
	}
	return roles300.file
}

// livePages lists the pages in use of the file at path whose type is typ
// ("meta", "branch", "leaf"), by bbolt's own account.
func livePages(t *testing.T, path, typ string) []int {
	t.Helper()
	pages, _, _ := bolttest.Pages(t, path)
	var ids []int
	for _, p := range pages {
		if p.Type == typ {
			ids = append(ids, p.ID)
		}
	}
	if len(ids) == 0 {
		t.Fatalf("no %s page in use", typ)
	}
	return ids
}

// eventRecord returns the offset in the file at path of the record of the
// test key's event seq, in the leaf pages in use (free pages hold stale
// copies): its key, then its value.
func eventRecord(t *testing.T, path string, seq uint64) int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tenant := engine.KeyID(key)
	k := byteorder.BigEndian.AppendUint64(tenant[:], seq)
	for _, id := range livePages(t, path, "leaf") {
		if i := bytes.Index(raw[id*pageSize:(id+1)*pageSize], k); i >= 0 {
			return id*pageSize + i
		}
	}
	t.Fatalf("event %d is in no leaf page in use", seq)
	return 0
}

const pageSize = 4096 // bbolt's page size on the machines the tests run on

// TestDamagedDataFile: the report, for each kind of damage it
// lists. 300 roles written, the server stopped, a few bytes of the data
// file overwritten in a meta page, a branch page, a leaf page, a stored
// value: the server exits 1 within seconds with one message naming the
// file, what is wrong and what to do, and no Go stack trace (before this
// change bbolt crashed with one, or served); auth-server check reports the
// damage and exits 1.
func TestDamagedDataFile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
		want   string
	}{
		{"meta page", func(t *testing.T, path string) {
			// The newest meta page (of the higher transaction id), under
			// its checksum: bbolt would quietly fall back to the older
			// one, losing the last write.
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			newest := 0
			if byteorder.LittleEndian.Uint64(raw[pageSize+16+48:]) > byteorder.LittleEndian.Uint64(raw[16+48:]) {
				newest = 1
			}
			bolttest.Damage(t, path, newest*pageSize+16+24, []byte("\xde\xad\xbe\xef"))
		}, "meta page"},
		{"branch page", func(t *testing.T, path string) {
			// Element 1's child page id.
			bolttest.Damage(t, path, livePages(t, path, "branch")[0]*pageSize+16+16+8, []byte("\xef\xbe\xad\xde"))
		}, "branch page"},
		{"leaf page", func(t *testing.T, path string) {
			// Element 3's position and sizes, in the events' leaf that
			// holds role 150.
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range livePages(t, path, "leaf") {
				if bytes.Contains(raw[id*pageSize:(id+1)*pageSize], []byte("role-150")) {
					bolttest.Damage(t, path, id*pageSize+16+3*16+4, []byte("XXXXXXXXXXXX"))
					return
				}
			}
			t.Fatal("no leaf page in use holds role 150")
		}, `bucket "events": leaf page`},
		{"stored value", func(t *testing.T, path string) {
			// A byte of event 150's record (its role's name).
			bolttest.Damage(t, path, eventRecord(t, path, 150)+60, []byte("X"))
		}, "event 150: checksum mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, bolt.FileName)
			if err := os.WriteFile(path, dataWith300Roles(t), 0o600); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, path)

			code, _, stderr, took := runOnce(t, 20*time.Second, "-addr", "127.0.0.1:0", "-data", dir)
			t.Logf("exit %d after %v:\n%s", code, took.Round(time.Millisecond), stderr)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if took > 5*time.Second {
				t.Errorf("took %v to refuse", took)
			}
			if stackTrace.MatchString(stderr) {
				t.Errorf("a Go stack trace:\n%s", stderr)
			}
			last := stderr[strings.LastIndex(strings.TrimSuffix(stderr, "\n"), "\n")+1:]
			for _, want := range []string{"auth-server: " + path + " is corrupt", tc.want, "restore the latest backup", "auth-server check -data " + dir} {
				if !strings.Contains(last, want) {
					t.Errorf("the last line lacks %q:\n%s", want, last)
				}
			}
			if strings.Contains(stderr, "msg=serving") {
				t.Error("the server served from the damaged file")
			}

			code, stdout, _, _ := runOnce(t, 20*time.Second, "check", "-data", dir)
			if code != 1 || !strings.Contains(stdout, "CORRUPT") || !strings.Contains(stdout, tc.want) {
				t.Errorf("check: exit %d\n%s", code, stdout)
			}
		})
	}
}

// TestCorruptionFoundWhileServing: damage found while the server serves
// (here, an old event read for the feed, which the start did not read
// since a snapshot covers it) stops the server: exit 1, the message, no
// stack trace; and the next start checks the file.
func TestCorruptionFoundWhileServing(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, "-snapshot-every", "20")
	for i := range 50 {
		p.expect("POST", fmt.Sprintf("/api/role/%s/old-%02d", key, i), `{"result": true}`)
	}
	p.stop()
	path := filepath.Join(dir, bolt.FileName)
	at := eventRecord(t, path, 4)
	p = start(t, dir)
	// The server maps the file: it sees this.
	bolttest.Damage(t, path, at+60, []byte("X"))
	req, _ := http.NewRequest("GET", p.base+"/v1/events?after=0&limit=10", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	var code int
	var body []byte
	resp, err := client.Do(req)
	if err == nil {
		code = resp.StatusCode
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if code == 200 {
		t.Errorf("the feed served a damaged event: %s", body)
	}
	select {
	case <-p.exit:
	case <-time.After(15 * time.Second):
		t.Fatalf("the server did not stop on damage (%d %s %v):\n%s", code, body, err, p.logs)
	}
	if p.cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("exit code %d, want 1", p.cmd.ProcessState.ExitCode())
	}
	logs := p.logs.String()
	if stackTrace.MatchString(logs) || !strings.Contains(logs, "event 4: checksum mismatch") || !strings.Contains(logs, "auth-server check -data") {
		t.Errorf("logs:\n%s", logs)
	}
	code, stdout, _, _ := runOnce(t, 20*time.Second, "check", "-data", dir)
	if code != 1 || !strings.Contains(stdout, "event 4: checksum mismatch") || !strings.Contains(stdout, "not clean") {
		t.Errorf("check: exit %d\n%s", code, stdout)
	}
}
