package madeup

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAsk: every request carries its own made-up key as a bearer key, and
// the status comes back; a stream is left once its headers come.
func TestAsk(t *testing.T) {
	keys := make(chan string, 2*len(Routes))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys <- r.Header.Get("Authorization")
		if strings.HasSuffix(r.URL.Path, "/stream") {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done() // a stream that never ends
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error": "key revoked or unknown"}`))
	}))
	defer srv.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	for _, route := range Routes {
		code, err := Ask(srv.Client(), srv.URL, route, rng)
		if err != nil {
			t.Fatalf("%s: %v", route, err)
		}
		want := http.StatusUnauthorized
		if strings.HasSuffix(route, "/stream") {
			want = http.StatusOK
		}
		if code != want {
			t.Errorf("%s answered %d, want %d", route, code, want)
		}
		key := <-keys
		if !strings.HasPrefix(key, "Bearer made-up-") || seen[key] {
			t.Errorf("%s asked under %q, want a new made-up bearer key", route, key)
		}
		seen[key] = true
	}
}
