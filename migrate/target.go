package migrate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"auth/client"
)

// write writes one tenant to the server, as one import, and says how it
// ended. An import is a merge: written into a tenant that holds anything
// else, it would leave that there, so the tenant is read first, and
// imported only into an empty tenant. A tenant that already holds exactly
// its facts (a rerun, or an import whose answer was lost) is left alone,
// and one that holds anything else is not written: a rerun writes nothing
// that is already there and undoes nothing done on the server since.
func (m *migration) write(ctx context.Context, t *Tenant) Result {
	r := Result{Tenant: t}
	if t.Refused != "" {
		r.Outcome = NotApplied
		return r
	}
	c := m.client(t.Key)
	held, seq, err := readTenant(ctx, c)
	if err != nil {
		r.Outcome, r.Error = NotApplied, "reading the tenant before writing it: "+err.Error()
		return r
	}
	onlyServer, onlySource := compareFacts(held, t.facts)
	switch {
	case onlyServer == 0 && onlySource == 0:
		r.Outcome, r.Seq = Unchanged, seq
		return r
	case len(held) > 0:
		// Whatever the difference: facts the source lacks may have been
		// added on the server since a first run, and facts it has may have
		// been removed there; a merge would undo that.
		r.Outcome = NotApplied
		r.Error = fmt.Sprintf("the server already holds this tenant, and otherwise (%s there not in the source, %s of the source not there: changed on the server since, or imported with other flags); nothing written",
			facts(onlyServer), facts(onlySource))
		return r
	}
	// The tenant is empty on the server: the import is all of it.
	im, err := m.sendImport(ctx, c, encodeFacts(t.facts))
	if err == nil {
		r.Outcome, r.Seq = Imported, im.Seq
		return r
	}
	if errors.Is(err, client.ErrNotApplied) {
		r.Outcome, r.Error = NotApplied, err.Error()
		return r
	}
	// Anything else may have been applied: read the tenant to find out.
	// Found whole, it was; found otherwise, it may still be (the write
	// may be in flight), and only a later read can tell.
	var opts []client.ReadOption
	var ce *client.Error
	if errors.As(err, &ce) && ce.Seq > 0 {
		opts = append(opts, client.MinSeq(ce.Seq))
	}
	held, seq, rerr := readTenant(ctx, c, opts...)
	if a, b := compareFacts(held, t.facts); rerr == nil && a == 0 && b == 0 {
		r.Outcome, r.Seq = Imported, seq
		return r
	}
	r.Outcome, r.Error = Unknown, err.Error()+"; rerun to finish: it reads the tenant before writing"
	return r
}

func facts(n int) string {
	if n == 1 {
		return "1 fact"
	}
	return fmt.Sprintf("%d facts", n)
}

// sendImport sends one import, cfg.Imports at once. A server busy with
// other imports answers 429, having read nothing: the import is sent
// again after a pause, until cfg.Timeout has passed since the first 429.
func (m *migration) sendImport(ctx context.Context, c *client.Client, body []byte) (client.Imported, error) {
	var busySince time.Time
	pause := 50 * time.Millisecond
	for {
		select {
		case m.imports <- struct{}{}:
		case <-ctx.Done():
			return client.Imported{}, fmt.Errorf("migrate: waiting to import: %w: %w", client.ErrNotApplied, context.Cause(ctx))
		}
		im, err := c.Import(ctx, bytes.NewReader(body))
		<-m.imports
		var ce *client.Error
		if !errors.As(err, &ce) || ce.StatusCode != http.StatusTooManyRequests {
			return im, err
		}
		if busySince.IsZero() {
			busySince = time.Now()
		}
		if time.Since(busySince) > m.cfg.Timeout {
			return im, err
		}
		select {
		case <-time.After(pause + rand.N(pause)):
		case <-ctx.Done():
			return im, err
		}
		pause = min(2*pause, time.Second)
	}
}

// client returns a client of the server acting as key's tenant; they
// share one pool of connections.
func (m *migration) client(k Key) *client.Client {
	return client.New(m.cfg.Target, k.s, client.WithHTTPClient(m.hc), client.WithTimeout(m.cfg.Timeout), client.WithUserAgent(m.cfg.UserAgent))
}

// readTenant exports the tenant: its facts and the seq of the state they
// come from.
func readTenant(ctx context.Context, c *client.Client, opts ...client.ReadOption) (map[client.Fact]bool, uint64, error) {
	var buf bytes.Buffer
	seq, err := c.Export(ctx, &buf, opts...)
	if err != nil {
		return nil, 0, err
	}
	held := map[client.Fact]bool{}
	for f, err := range client.ReadFacts(&buf) {
		if err != nil {
			return nil, 0, fmt.Errorf("reading the export: %w", err)
		}
		held[f] = true
	}
	return held, seq, nil
}

// compareFacts counts the facts only the server holds, and those only the
// source does.
func compareFacts(held map[client.Fact]bool, want []client.Fact) (onlyServer, onlySource int) {
	in := 0
	for _, f := range want {
		if held[f] {
			in++
		} else {
			onlySource++
		}
	}
	return len(held) - in, onlySource
}

// encodeFacts writes facts as the JSON lines of an import.
func encodeFacts(facts []client.Fact) []byte {
	var buf bytes.Buffer
	buf.Grow(len(facts) * 40)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, f := range facts {
		if err := enc.Encode(f); err != nil {
			panic(err) // a Fact always encodes
		}
	}
	return buf.Bytes()
}
