package replica

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics, when Config.Registerer is set:
//
//	auth_events_applied_total{source}          events applied (source: local, remote)
//	auth_store_append_duration_seconds         time to make an event durable
//	auth_store_append_errors_total             appends the store refused
//	auth_store_fetch_errors_total              catch-up reads that failed
//	auth_snapshots_total{result}               snapshots written (ok, error)
//	auth_snapshot_installs_total               tenants started again from a snapshot
//	                                           while running (behind retention)
//	auth_events_dropped_total                  events delivered that the store does not
//	                                           hold (forged or corrupt), dropped
//	auth_tenants                               tenants held in memory
//	auth_replication_lag_seconds               for events written elsewhere: from the
//	                                           writer's clock at the write to this
//	                                           replica's at applying it (clocks of
//	                                           different hosts differ by their skew)
type metrics struct {
	appliedLocal, appliedRemote prometheus.Counter
	appendDuration              prometheus.Observer
	appendErrors                prometheus.Counter
	fetchErrors                 prometheus.Counter
	snapshotsOK, snapshotsErr   prometheus.Counter
	installs, undurable         prometheus.Counter
	lag                         prometheus.Observer
}

func newMetrics(r *Replica, reg prometheus.Registerer) *metrics {
	applied := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "auth_events_applied_total",
		Help: "Events applied to this replica's memory, by where they were written (local: through this replica).",
	}, []string{"source"})
	appendDuration := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "auth_store_append_duration_seconds",
		Help:    "Time for the store to make one event durable.",
		Buckets: prometheus.ExponentialBuckets(25e-6, 2, 18), // 25µs .. ~3s
	})
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	appendErrors := counter("auth_store_append_errors_total",
		"Appends the store refused (answered 503) or did not confirm (answered 504, outcome unknown).")
	fetchErrors := counter("auth_store_fetch_errors_total",
		"Catch-up reads of missing events that failed.")
	snapshots := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "auth_snapshots_total",
		Help: "Snapshots written to the store, by result.",
	}, []string{"result"})
	installs := counter("auth_snapshot_installs_total",
		"Tenants started again from the store's snapshot while running, because retention deleted events this replica had not applied.")
	undurable := counter("auth_events_dropped_total",
		"Events delivered (by the bus) above the store's head: never made durable, so forged or corrupt; dropped.")
	tenants := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "auth_tenants",
		Help: "Tenants held in memory.",
	}, func() float64 { return float64(r.eng.TenantCount()) })
	lag := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "auth_replication_lag_seconds",
		Help:    "For events written through another replica: time from the write to applying it here.",
		Buckets: prometheus.ExponentialBuckets(50e-6, 2, 18), // 50µs .. ~6.5s
	})
	reg.MustRegister(applied, appendDuration, appendErrors, fetchErrors, snapshots, installs, undurable, tenants, lag)
	return &metrics{
		appliedLocal:   applied.WithLabelValues("local"),
		appliedRemote:  applied.WithLabelValues("remote"),
		appendDuration: appendDuration,
		appendErrors:   appendErrors,
		fetchErrors:    fetchErrors,
		snapshotsOK:    snapshots.WithLabelValues("ok"),
		snapshotsErr:   snapshots.WithLabelValues("error"),
		installs:       installs,
		undurable:      undurable,
		lag:            lag,
	}
}
