package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"auth/httpapi"
)

// counterValue finds a counter's value by its labels in gathered families.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), true
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), true
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newTestServer(t, func(c *httpapi.Config) { c.Registerer, c.Gatherer = reg, reg })
	s.expect("POST", "/api/role/"+key+"/r", ok, T)
	s.expect("POST", "/api/role/"+key+"/r", ok, F)
	s.expect("POST", "/api/membership/"+key+"/u/r", ok, T)
	for range 3 {
		s.expect("GET", "/api/has_permission/"+key+"/u/p", ok, F)
	}
	s.do("GET", "/api/has_permission/"+key+"/u/%FF")
	s.do("GET", "/nowhere/"+key)
	s.doWith("GET", "/v1/roles", "", bearerHeader(key))

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"auth_http_requests_total", map[string]string{"route": "/api/has_permission/{key}/{user}/{name}", "method": "GET", "code": "200"}, 3},
		{"auth_http_requests_total", map[string]string{"route": "/api/has_permission/{key}/{user}/{name}", "method": "GET", "code": "400"}, 1},
		{"auth_http_requests_total", map[string]string{"route": "/api/role/{key}/{role}", "method": "POST", "code": "200"}, 2},
		{"auth_http_requests_total", map[string]string{"route": "/api/membership/{key}/{user}/{role}", "method": "POST", "code": "200"}, 1},
		{"auth_http_requests_total", map[string]string{"route": "unmatched", "method": "GET", "code": "404"}, 1},
		{"auth_http_requests_total", map[string]string{"route": "/v1/roles", "method": "GET", "code": "200"}, 1},
		{"auth_http_request_duration_seconds", map[string]string{"route": "/api/has_permission/{key}/{user}/{name}", "method": "GET"}, 4},
		{"auth_http_request_duration_seconds", map[string]string{"route": "/api/role/{key}/{role}", "method": "POST"}, 2},
	} {
		got, found := metricValue(t, reg, c.name, c.labels)
		if !found || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, found, c.want)
		}
	}

	code, body := s.do("GET", "/metrics")
	if code != http.StatusOK || !strings.Contains(body, "auth_http_requests_total{") {
		t.Fatalf("GET /metrics = %d, without the request counter:\n%.500s", code, body)
	}
	if strings.Contains(body, key) {
		t.Fatal("the key appears in /metrics")
	}
}

func TestHealth(t *testing.T) {
	s := newTestServer(t)
	s.expect("GET", "/healthz", ok, `{"status": "ok"}`)
	s.expect("GET", "/readyz", ok, `{"status": "ready"}`)
	notReady := newTestServer(t, func(c *httpapi.Config) {
		c.Ready = func(context.Context) error { return errors.New("store: connection refused") }
	})
	notReady.expect("GET", "/healthz", ok, `{"status": "ok"}`)
	notReady.expect("GET", "/readyz", http.StatusServiceUnavailable, `{"status": "not ready", "error": "store: connection refused"}`)
}
