package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkImport1M imports 1M memberships (1k roles, 10k permissions, 20
// grants per role, 1M users in one role each) in one POST /v1/import over
// HTTP into the embedded store, all of it durable and applied before the
// answer.
//
//	go test ./httpapi -run '^$' -bench Import1M -benchtime 1x
func BenchmarkImport1M(b *testing.B) {
	var sb strings.Builder
	for r := range 1000 {
		fmt.Fprintf(&sb, "{\"role\": \"role-%04d\"}\n", r)
		for g := range 20 {
			fmt.Fprintf(&sb, "{\"role\": \"role-%04d\", \"permission\": \"perm-%05d\"}\n", r, (r*20+g)%10000)
		}
	}
	for u := range 1_000_000 {
		fmt.Fprintf(&sb, "{\"role\": \"role-%04d\", \"user\": \"user-%07d\"}\n", u%1000, u)
	}
	body := sb.String()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		s := newTestServer(b)
		b.StartTimer()
		code, answer := s.doWith("POST", "/v1/import", body, bearerHeader(key))
		if code != http.StatusOK || !strings.Contains(answer, `"memberships": 1000000`) {
			b.Fatalf("import = %d %s", code, answer)
		}
	}
	b.ReportMetric(float64(len(body))/1e6, "body-MB")
}
