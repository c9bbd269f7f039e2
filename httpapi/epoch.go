package httpapi

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"auth/engine"
	"auth/internal/jsonstr"
)

// Epochs. A store has an epoch: an id chosen when it is created and again
// when a backup of it is restored (the embedded store), or kept once in
// the database (MongoDB). A restored store goes back to the backup's seqs
// and then gives the seqs the original had already used to other writes,
// so a seq means something only within its epoch. The API says so:
//
//   - every answer that carries X-Auth-Seq carries X-Auth-Epoch too, and
//     GET /status has "epoch";
//   - a /v1 read (the batch check and the export too) and GET /v1/events
//     take epoch=E beside min_seq or after: when E is not this store's
//     epoch, they answer 412 {"error": ..., "epoch": "<this one>", "seq":
//     <the tenant's seq here>} and nothing else: the client's seq token
//     (or cursor) is of another history and it must start over (read
//     without min_seq; export, then follow the feed from the export's
//     seq);
//   - the event stream's ids are "EPOCH:SEQ", so that Last-Event-ID
//     carries the epoch back (a bare "SEQ" is still taken, as of this
//     epoch); a stream resumed from another epoch answers one
//     "event: reset" (see stream) and ends.
//
// A Service whose store has no epoch (EpochReporter not implemented, or
// "") sends no X-Auth-Epoch, plain seqs as ids, and takes any epoch=.

// EpochReporter is what the API needs to tell the store's epoch; a Service
// may implement it.
type EpochReporter interface {
	// StoreEpoch is the store's epoch; "" for none. It must not change
	// while the server runs.
	StoreEpoch() string
}

// epochHeader is X-Auth-Epoch in canonical form.
var epochHeader = []byte("X-Auth-Epoch")

// epochOf returns svc's store epoch, "" for none.
func epochOf(svc Service) string {
	if r, ok := svc.(EpochReporter); ok {
		return r.StoreEpoch()
	}
	return ""
}

// sameEpoch reports whether a client's epoch (empty: none given) is this
// store's; if not, it answers 412.
func (s *Server) sameEpoch(ctx *fasthttp.RequestCtx, id engine.TenantID, epoch []byte) bool {
	if len(epoch) == 0 || s.epoch == "" || string(epoch) == s.epoch {
		return true
	}
	seq := s.svc.Tenant(id).Seq()
	s.setSeq(ctx, seq)
	ctx.SetStatusCode(fasthttp.StatusPreconditionFailed)
	ctx.SetContentType(contentJSON)
	setBody(ctx, func(b []byte) []byte {
		b = append(b, `{"error": `...)
		b = jsonstr.Append(b, msgOtherEpoch)
		b = append(b, `, "epoch": `...)
		b = jsonstr.Append(b, s.epoch)
		b = append(b, `, "seq": `...)
		b = strconv.AppendUint(b, seq, 10)
		return append(b, '}')
	})
	return false
}

const msgOtherEpoch = "that seq is of another epoch of the store (it was restored from a backup since): its seqs mean nothing here; start over (read without min_seq, or export and follow the feed from the export's seq)"

// parseEventID parses a stream cursor, "EPOCH:SEQ" or "SEQ", into its
// epoch ("" when bare) and seq.
func parseEventID(b []byte) (epoch string, seq uint64, ok bool) {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ':' {
			epoch, b = string(b[:i]), b[i+1:]
			if epoch == "" {
				return "", 0, false
			}
			break
		}
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	return epoch, v, err == nil
}

// appendEventID appends the stream id of seq: "EPOCH:SEQ", or "SEQ" when
// the store has no epoch.
func (s *Server) appendEventID(b []byte, seq uint64) []byte {
	if s.epoch != "" {
		b = append(b, s.epoch...)
		b = append(b, ':')
	}
	return strconv.AppendUint(b, seq, 10)
}
