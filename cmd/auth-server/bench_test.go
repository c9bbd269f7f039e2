//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	authclient "auth/client"
	"auth/client/clienttest"
	"auth/internal/tlstest"
)

// BenchmarkChecksOverTLS compares, in one run, has_permission checks over
// kept-alive HTTPS connections with the same checks over plain HTTP: two
// auth-server processes built from this tree, one with -tls-cert and
// -tls-key (TLS 1.3, an ECDSA P-256 certificate), one without, each with
// the same tenant (1,000 users in 10 roles, 100 permissions). 16 clients
// with one connection each and one request in flight (fasthttp's client,
// as authbench uses) send to one server, then the other, in alternating
// blocks of 2,048 checks, so that both see the same machine; every answer
// is checked. It reports each one's checks/s, their ratio "https/http"
// (1: TLS costs nothing), and each server's CPU per check from
// /proc/<pid>/stat with its ratio "cpu-https/http". The clients run on
// the same cores and encrypt too, so the throughput ratio counts TLS at
// both ends; the CPU ratio is the server's own.
//
//	go test ./cmd/auth-server -run '^$' -bench ChecksOverTLS -benchtime 100000x -count 5
func BenchmarkChecksOverTLS(b *testing.B) {
	const key = "bench-tls-key"
	ca := tlstest.NewCA(b, "bench CA")
	dir := b.TempDir()
	certFile, keyFile := ca.Issue(b, "bench", tlstest.Options{}).Write(b, dir, "server")
	clientTLS := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	servers := [2]*benchServer{
		startBenchServer(b),
		startBenchServer(b, "-tls-cert", certFile, "-tls-key", keyFile),
	}
	var loads [2]checkLoad
	for i, s := range servers {
		loads[i] = checkLoad{
			target:  s.loadTenant(b, key, clientTLS),
			server:  s,
			queries: benchQueries(func(u, p int) string { return fmt.Sprintf("/api/has_permission/%s/user-%d/perm-%d", key, u, p) }),
		}
	}
	took, cpu := alternateChecks(b, loads)
	httpRate, httpsRate := float64(b.N)/took[0].Seconds(), float64(b.N)/took[1].Seconds()
	httpCPU, httpsCPU := cpu[0].Seconds()*1e6/float64(b.N), cpu[1].Seconds()*1e6/float64(b.N)
	b.ReportMetric(httpRate, "http-checks/s")
	b.ReportMetric(httpsRate, "https-checks/s")
	b.ReportMetric(httpsRate/httpRate, "https/http")
	b.ReportMetric(httpCPU, "http-cpu-µs/check")
	b.ReportMetric(httpsCPU, "https-cpu-µs/check")
	if httpCPU > 0 {
		b.ReportMetric(httpsCPU/httpCPU, "cpu-https/http")
	}
}

// BenchmarkCheckV1VsAPIOverHTTP compares, in one run, the two check
// routes end to end: GET /v1/has_permission/{user}/{perm} with the key in
// Authorization, and GET /api/has_permission/{key}/{user}/{perm}, sent to
// one auth-server process built from this tree (its store has an epoch,
// so /v1 answers X-Auth-Seq and X-Auth-Epoch) over kept-alive plain HTTP,
// by the clients BenchmarkChecksOverTLS uses, in alternating blocks. It
// reports each route's checks/s, "v1/api" (/v1's throughput as a share of
// /api's), and the server's CPU per check on each with "cpu-v1/api".
//
//	go test ./cmd/auth-server -run '^$' -bench CheckV1VsAPIOverHTTP -benchtime 100000x -count 5
func BenchmarkCheckV1VsAPIOverHTTP(b *testing.B) {
	const key = "bench-v1-key"
	s := startBenchServer(b)
	target := s.loadTenant(b, key, nil)
	loads := [2]checkLoad{
		{target: target, server: s, queries: benchQueries(func(u, p int) string {
			return fmt.Sprintf("/api/has_permission/%s/user-%d/perm-%d", key, u, p)
		})},
		{target: target, server: s, headers: [][2]string{{"Authorization", "Bearer " + key}}, queries: benchQueries(func(u, p int) string {
			return fmt.Sprintf("/v1/has_permission/user-%d/perm-%d", u, p)
		})},
	}
	took, cpu := alternateChecks(b, loads)
	apiRate, v1Rate := float64(b.N)/took[0].Seconds(), float64(b.N)/took[1].Seconds()
	b.ReportMetric(apiRate, "api-checks/s")
	b.ReportMetric(v1Rate, "v1-checks/s")
	b.ReportMetric(v1Rate/apiRate, "v1/api")
	if cpu[0] > 0 {
		b.ReportMetric(cpu[1].Seconds()/cpu[0].Seconds(), "cpu-v1/api")
	}
}

// checkWorkers is how many clients send checks, each with one connection
// and one request in flight; checkBlock is how many checks one target
// takes before the other has its turn.
const (
	checkWorkers = 16
	checkBlock   = 2048
)

// loadTenant imports clienttest.SampleTenant under key into s and returns
// a client of s for checkWorkers connections; tlsConfig is the client's
// for https.
func (s *benchServer) loadTenant(b *testing.B, key string, tlsConfig *tls.Config) *fasthttp.HostClient {
	c := authclient.New(s.scheme+"://"+s.addr, key, authclient.WithTLS(tlsConfig))
	if _, err := c.Import(context.Background(), strings.NewReader(clienttest.SampleTenant())); err != nil {
		b.Fatal(err)
	}
	c.CloseIdleConnections()
	return &fasthttp.HostClient{Addr: s.addr, IsTLS: s.scheme == "https", TLSConfig: tlsConfig,
		MaxConns: checkWorkers, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
}

// checkQuery is a check's URI and the answer it must get.
type checkQuery struct{ uri, want string }

// benchQueries returns 1,024 checks of clienttest.SampleTenant, half of
// them true, each asked by the URI uri makes of its user and permission
// numbers.
func benchQueries(uri func(u, p int) string) []checkQuery {
	queries := make([]checkQuery, 1024)
	for i := range queries {
		u, p := (i*7)%1000, (i*13)%100
		want := `{"result": false}`
		if p/10 == u%10 {
			want = `{"result": true}`
		}
		queries[i] = checkQuery{uri(u, p), want}
	}
	return queries
}

// checkLoad is one side of a comparison: checks sent to a server, with
// headers on every request.
type checkLoad struct {
	target  *fasthttp.HostClient
	server  *benchServer
	headers [][2]string
	queries []checkQuery // len a power of two
}

// run sends n checks, from the start-th query on, through checkWorkers
// clients, checks every answer, and returns how long they took.
func (l *checkLoad) run(start, n int) (time.Duration, error) {
	var wg sync.WaitGroup
	errs := make(chan error, checkWorkers)
	begin := time.Now()
	for w := range checkWorkers {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for _, h := range l.headers {
				req.Header.Set(h[0], h[1])
			}
			for i := w; i < n; i += checkWorkers {
				q := &l.queries[(start+i)&(len(l.queries)-1)]
				req.SetRequestURI(q.uri)
				req.SetHost("localhost")
				if l.target.IsTLS {
					req.URI().SetScheme("https")
				}
				if err := l.target.Do(req, resp); err != nil {
					errs <- err
					return
				}
				if resp.StatusCode() != 200 || string(resp.Body()) != q.want {
					errs <- fmt.Errorf("%s = %d %s, want %s", q.uri, resp.StatusCode(), resp.Body(), q.want)
					return
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(begin)
	close(errs)
	return took, <-errs
}

// alternateChecks sends b.N checks of each load, in alternating blocks of
// checkBlock (each goes first every other block), so that both see the
// same machine, after a warm-up that opens the connections. It returns
// each load's time and its server's CPU time over the blocks.
func alternateChecks(b *testing.B, loads [2]checkLoad) (took, cpu [2]time.Duration) {
	for i := range loads {
		if _, err := loads[i].run(0, 8*checkWorkers); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for done, turn := 0, 0; done < b.N; turn++ {
		k := min(checkBlock, b.N-done)
		for j := range 2 {
			j ^= turn & 1
			before := loads[j].server.cpu(b)
			d, err := loads[j].run(done, k)
			if err != nil {
				b.Fatal(err)
			}
			took[j] += d
			cpu[j] += loads[j].server.cpu(b) - before
		}
		done += k
	}
	b.StopTimer()
	return took, cpu
}

// benchServer is an auth-server process for a benchmark.
type benchServer struct {
	cmd          *exec.Cmd
	scheme, addr string
}

func startBenchServer(b *testing.B, extra ...string) *benchServer {
	b.Helper()
	cmd := exec.Command(binary, append([]string{"-addr", "127.0.0.1:0", "-data", b.TempDir()}, extra...)...)
	cmd.Env = append(os.Environ(), "AUTH_ADDR=", "AUTH_DATA=", "MONGO_URI=", "NATS_URL=", "AUTH_ACCESS_LOG=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	s := &benchServer{cmd: cmd, scheme: "http"}
	if len(extra) > 0 {
		s.scheme = "https"
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
			s.addr = m[1]
			break
		}
	}
	if s.addr == "" {
		b.Fatal("auth-server did not start serving")
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	return s
}

// cpu is the user and system CPU time the process has used, from
// /proc/<pid>/stat (in ticks of 10 ms).
func (s *benchServer) cpu(b *testing.B) time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	// utime and stime are fields 14 and 15: the 12th and 13th after the
	// command name's closing parenthesis.
	f := bytes.Fields(data[bytes.LastIndexByte(data, ')')+1:])
	utime, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: bad times", s.cmd.Process.Pid)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
