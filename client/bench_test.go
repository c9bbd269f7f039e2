package client_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"auth/client"
	"auth/client/clienttest"
)

// BenchmarkCheck compares, in one run, one check per request with a batch
// of 1,000 checks in one POST /v1/check, both over a kept-alive connection
// to a real server in this process (loopback, the embedded store). The
// batch reports "batch/single", its time over a single check's: under 20
// means a batch of 1,000 costs less than 20 single checks.
//
//	go test ./client -run '^$' -bench Check -benchtime 2s
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	c := client.New(serverURL, "bench-check-key")
	defer c.CloseIdleConnections()
	if _, err := c.Import(ctx, strings.NewReader(clienttest.SampleTenant())); err != nil {
		b.Fatal(err)
	}
	checks := make([]client.Check, client.MaxChecks)
	for i := range checks {
		checks[i] = client.Check{User: fmt.Sprintf("user-%d", i), Permission: fmt.Sprintf("perm-%d", (i*7)%100)}
	}
	var single time.Duration // per op, of the last run of "single"

	b.Run("single", func(b *testing.B) {
		n := 0
		for b.Loop() {
			ch := checks[n%len(checks)]
			if _, err := c.UserHasPermission(ctx, ch.User, ch.Permission); err != nil {
				b.Fatal(err)
			}
			n++
		}
		single = b.Elapsed() / time.Duration(n)
	})
	b.Run("batch1000", func(b *testing.B) {
		n := 0
		for b.Loop() {
			res, err := c.Check(ctx, checks)
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Results) != len(checks) {
				b.Fatalf("%d results", len(res.Results))
			}
			n++
		}
		batch := b.Elapsed() / time.Duration(n)
		b.ReportMetric(float64(batch.Nanoseconds())/float64(len(checks)), "ns/check")
		if single > 0 {
			b.ReportMetric(float64(batch)/float64(single), "batch/single")
		}
	})
}
