package bus

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats counts what a bus did since it started.
type Stats struct {
	Published      uint64 // events published
	PublishErrors  uint64 // publishes the client refused (link down past its buffer, too large)
	PublishDropped uint64 // events not published because the publish queue was full
	Received       uint64 // events received from other replicas
	Dropped        uint64 // events dropped by a test's fault injection
	Corrupt        uint64 // messages that did not decode
	Rejected       uint64 // messages dropped because their HMAC did not verify
	Overflow       uint64 // events dropped because MaxQueued were waiting
	Stale          uint64 // events received that were already applied
	Delivered      uint64 // events handed to the replica
	DeliverErrors  uint64 // deliveries whose gap fetch failed
	Syncs          uint64 // tenant Syncs run
	SyncErrors     uint64 // tenant Syncs that failed
	DigestsSent    uint64
	DigestsRecv    uint64
	Scans          uint64 // comparisons with the store's heads
	ScanErrors     uint64
	ScanBehind     uint64 // tenants those comparisons found behind
	Disconnects    uint64
	Reconnects     uint64
	Connected      bool
}

// counter names one of the bus's counters.
type counter int

const (
	cPublished counter = iota
	cPublishErrors
	cPublishDropped
	cReceived
	cDropped
	cCorrupt
	cRejected
	cOverflow
	cStale
	cDelivered
	cDeliverErrors
	cSyncs
	cSyncErrors
	cDigestsSent
	cDigestsReceived
	cScans
	cScanErrors
	cScanBehind
	cDisconnects
	cReconnects
	numCounters
)

// counters are the bus's counters, indexed by counter.
type counters [numCounters]atomic.Uint64

// counterDefs is the one list of the counters: where each goes in Stats,
// and its metric (a family, and the kind label within it; no label for a
// family of one).
var counterDefs = [numCounters]struct {
	stat func(*Stats) *uint64
	desc *prometheus.Desc
	kind string
}{
	cPublished:       {func(s *Stats) *uint64 { return &s.Published }, descMessages, "published"},
	cPublishErrors:   {func(s *Stats) *uint64 { return &s.PublishErrors }, descErrors, "publish"},
	cPublishDropped:  {func(s *Stats) *uint64 { return &s.PublishDropped }, descMessages, "publish_dropped"},
	cReceived:        {func(s *Stats) *uint64 { return &s.Received }, descMessages, "received"},
	cDropped:         {func(s *Stats) *uint64 { return &s.Dropped }, descMessages, "dropped"},
	cCorrupt:         {func(s *Stats) *uint64 { return &s.Corrupt }, descMessages, "corrupt"},
	cRejected:        {func(s *Stats) *uint64 { return &s.Rejected }, descRejected, ""},
	cOverflow:        {func(s *Stats) *uint64 { return &s.Overflow }, descMessages, "overflow"},
	cStale:           {func(s *Stats) *uint64 { return &s.Stale }, descMessages, "stale"},
	cDelivered:       {func(s *Stats) *uint64 { return &s.Delivered }, descMessages, "delivered"},
	cDeliverErrors:   {func(s *Stats) *uint64 { return &s.DeliverErrors }, descErrors, "deliver"},
	cSyncs:           {func(s *Stats) *uint64 { return &s.Syncs }, descCatchups, "syncs"},
	cSyncErrors:      {func(s *Stats) *uint64 { return &s.SyncErrors }, descErrors, "sync"},
	cDigestsSent:     {func(s *Stats) *uint64 { return &s.DigestsSent }, descCatchups, "digests_sent"},
	cDigestsReceived: {func(s *Stats) *uint64 { return &s.DigestsRecv }, descCatchups, "digests_received"},
	cScans:           {func(s *Stats) *uint64 { return &s.Scans }, descCatchups, "scans"},
	cScanErrors:      {func(s *Stats) *uint64 { return &s.ScanErrors }, descErrors, "scan"},
	cScanBehind:      {func(s *Stats) *uint64 { return &s.ScanBehind }, descCatchups, "scan_behind"},
	cDisconnects:     {func(s *Stats) *uint64 { return &s.Disconnects }, descLink, "disconnects"},
	cReconnects:      {func(s *Stats) *uint64 { return &s.Reconnects }, descLink, "reconnects"},
}

// Stats returns the bus's counters.
func (b *Bus) Stats() Stats {
	s := Stats{Connected: b.Connected()}
	for i := range counterDefs {
		*counterDefs[i].stat(&s) = b.st[i].Load()
	}
	return s
}
