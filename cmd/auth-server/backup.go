package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"auth/persist/bolt"
)

// runBackup is "auth-server backup": a copy of the embedded store, from a
// running server's admin listener (-from) or from a stopped server's data
// folder (-data), written to -to only once it is whole and passes the
// check.
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := subcommandFlags("backup", stderr,
		"usage: auth-server backup -from http://127.0.0.1:4001 -to FILE",
		"       auth-server backup -data DIR -to FILE   (the server stopped)",
		"Copies the embedded store; the copy is checked before it is named FILE.")
	from := fs.String("from", "", "a running server's admin listener (its -admin-addr), e.g. http://127.0.0.1:4001")
	data := fs.String("data", "", "instead, the data folder of a stopped server")
	to := fs.String("to", "", "the backup file to write")
	token := fs.String("admin-token", getenv("AUTH_ADMIN_TOKEN"), "the admin listener's token, if it has one (env AUTH_ADMIN_TOKEN)")
	timeout := fs.Duration("timeout", 0, "give up after this long (0: no limit)")
	if err := fs.Parse(args); err != nil {
		return exitCannotRun
	}
	if fs.NArg() > 0 || *to == "" || (*from == "") == (*data == "") {
		fmt.Fprintln(stderr, "auth-server backup: give -to, and one of -from and -data")
		fs.Usage()
		return exitCannotRun
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	begin := time.Now()
	partial := *to + ".partial"
	var err error
	if *from != "" {
		err = writeFile(partial, func(f *os.File) error { return download(ctx, *from, *token, f) })
	} else {
		err = writeFile(partial, func(f *os.File) error { return copyStopped(ctx, *data, f) })
	}
	if err != nil {
		os.Remove(partial)
		fmt.Fprintf(stderr, "auth-server backup: %v\n", err)
		return exitCannotRun
	}
	r, err := bolt.Check(ctx, partial)
	if err != nil || !r.OK() || !r.Backup {
		os.Remove(partial)
		fmt.Fprintf(stderr, "auth-server backup: the copy does not pass the check (kept nothing): %v %q\n", err, problems(r))
		return exitCorrupt
	}
	if err := os.Rename(partial, *to); err != nil {
		os.Remove(partial)
		fmt.Fprintf(stderr, "auth-server backup: %v\n", err)
		return exitCannotRun
	}
	syncDir(filepath.Dir(*to))
	fmt.Fprintf(stdout, "%s: backup of epoch %s, %s, %d tenant%s, %d event%s, checked, in %v\n",
		*to, r.Epoch, size(r.File.Size), r.Tenants, plural(r.Tenants), r.Events, plural(r.Events), time.Since(begin).Round(time.Millisecond))
	return exitOK
}

func problems(r *bolt.Report) []string {
	if r == nil {
		return nil
	}
	return r.Problems
}

// writeFile creates path, has fill write it, and syncs it.
func writeFile(path string, fill func(*os.File) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// download streams GET from/admin/backup into f.
func download(ctx context.Context, from, token string, f *os.File) error {
	from = strings.TrimSuffix(from, "/")
	if !strings.HasPrefix(from, "http://") && !strings.HasPrefix(from, "https://") {
		from = "http://" + from
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, from+"/admin/backup", nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		ResponseHeaderTimeout: 30 * time.Second,
	}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s answered %s: %s", from, resp.Status, e.Error)
		}
		return fmt.Errorf("%s answered %s", from, resp.Status)
	}
	n, err := io.Copy(f, resp.Body)
	if err != nil {
		return fmt.Errorf("the copy was cut off after %d bytes: %w", n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("the copy was cut off: %d bytes of %d", n, resp.ContentLength)
	}
	return nil
}

// copyStopped copies the store in dir, which no server may have open.
func copyStopped(ctx context.Context, dir string, f *os.File) error {
	if _, err := os.Stat(filepath.Join(dir, bolt.FileName)); err != nil {
		return err // not a data folder: do not create a store there
	}
	s, err := bolt.Open(bolt.DefaultConfig(dir))
	if err != nil {
		if errors.Is(err, bolt.ErrInUse) {
			return fmt.Errorf("%w (a running server has it: take the backup from its admin listener, -from)", err)
		}
		return err
	}
	b, err := s.OpenBackup(ctx)
	if err != nil {
		s.Close()
		return err
	}
	_, err = b.WriteTo(f)
	return errors.Join(err, b.Close(), s.Close())
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
