package bus

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics, read from Stats at scrape time (nothing is added to the paths
// that publish or deliver):
//
//	auth_bus_connected                       1 while the NATS link is up
//	auth_bus_messages_total{kind}            published, received, delivered, dropped, stale, corrupt, overflow
//	auth_bus_errors_total{kind}              publish, deliver, sync, scan
//	auth_bus_catchups_total{kind}            syncs, scans (comparisons with the store's heads),
//	                                         scan_behind (tenants they found behind), digests_sent, digests_received
//	auth_bus_link_changes_total{kind}        disconnects, reconnects
//	auth_bus_rejected_total                  messages dropped because their HMAC did not verify
//
// The replication lag itself is the replica's auth_replication_lag_seconds.

// Collector returns a Prometheus collector of the bus's counters.
func (b *Bus) Collector() prometheus.Collector { return collector{b} }

type collector struct{ b *Bus }

var (
	descConnected = prometheus.NewDesc("auth_bus_connected", "1 while the NATS link is up.", nil, nil)
	descMessages  = prometheus.NewDesc("auth_bus_messages_total", "Event messages by what happened to them.", []string{"kind"}, nil)
	descErrors    = prometheus.NewDesc("auth_bus_errors_total", "Bus failures by kind.", []string{"kind"}, nil)
	descCatchups  = prometheus.NewDesc("auth_bus_catchups_total", "Catch-up work: syncs with the store, comparisons with the store's heads and the tenants they found behind, digests.", []string{"kind"}, nil)
	descLink      = prometheus.NewDesc("auth_bus_link_changes_total", "NATS link losses and recoveries.", []string{"kind"}, nil)
	descRejected  = prometheus.NewDesc("auth_bus_rejected_total", "Bus messages dropped because their HMAC did not verify under the cluster secret (forged, or another deployment's).", nil, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnected, descMessages, descErrors, descCatchups, descLink, descRejected} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	connected := 0.0
	if c.b.Connected() {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, connected)
	for i, d := range counterDefs {
		v := float64(c.b.st[i].Load())
		if d.kind == "" {
			ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, v)
		} else {
			ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, v, d.kind)
		}
	}
}
