package migrate

import (
	"context"
	"net/http"
	"sync"
	"time"

	"auth/client"
)

// migration is one run.
type migration struct {
	cfg  Config
	hc   *http.Client
	orig *original
	prog *progress
	// imports admits cfg.Imports imports at once.
	imports chan struct{}
}

// Run migrates: it reads the source, plans every tenant, writes each as one
// import (unless DryRun) and verifies each (if Verify). It returns an
// error only when it could not read the source or cfg is invalid; what
// happened to each tenant is in the report, whose OK and Unknown say
// whether all went well. An interrupted run (ctx done) reports the tenants
// it did not reach as not applied.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &migration{cfg: cfg, hc: cfg.HTTPClient, prog: startProgress(cfg.Progress, cfg.ProgressEvery), imports: make(chan struct{}, cfg.Imports)}
	defer m.prog.close()
	if m.hc == nil {
		m.hc = &http.Client{Transport: client.NewTransport()}
		defer m.hc.CloseIdleConnections()
	}
	rep := &Report{}
	start := time.Now()
	src, err := ReadSource(ctx, cfg.Source, cfg.Database, cfg.Timeout, &m.prog.read)
	if err != nil {
		return nil, err
	}
	tenants := Plan(src, cfg.Options)
	rep.Summary.Read = Seconds(time.Since(start))
	rep.Tenants = make([]Result, len(tenants))

	if cfg.DryRun {
		for i, t := range tenants {
			rep.Tenants[i] = Result{Tenant: t, Outcome: DryRun}
			if t.Refused != "" {
				rep.Tenants[i].Outcome = NotApplied
			}
		}
		rep.Summary.Total = Seconds(time.Since(start))
		rep.summarize(src)
		return rep, nil
	}

	phase := time.Now()
	m.each(ctx, "writing", tenants, func(ctx context.Context, i int, t *Tenant) {
		rep.Tenants[i] = m.write(ctx, t)
	}, func(i int, t *Tenant) {
		rep.Tenants[i] = Result{Tenant: t, Outcome: NotApplied, Error: "not written: " + context.Cause(ctx).Error()}
	})
	rep.Summary.Write = Seconds(time.Since(phase))
	if cfg.afterWrite != nil {
		cfg.afterWrite()
	}

	if cfg.Verify {
		phase = time.Now()
		m.orig = newOriginal(src, cfg.RestoreHiddenGrants)
		m.each(ctx, "verifying", tenants, func(ctx context.Context, i int, t *Tenant) {
			if r := &rep.Tenants[i]; r.Outcome == Imported || r.Outcome == Unchanged {
				r.Verification = m.verify(ctx, t, r.Seq)
			}
		}, func(i int, t *Tenant) {
			if r := &rep.Tenants[i]; r.Outcome == Imported || r.Outcome == Unchanged {
				r.Verification = &Verification{Error: "not verified: " + context.Cause(ctx).Error()}
			}
		})
		rep.Summary.Verify = Seconds(time.Since(phase))
	}
	rep.Summary.Total = Seconds(time.Since(start))
	rep.summarize(src)
	return rep, nil
}

// each runs do for every tenant, cfg.Parallel at once; once ctx is done,
// it runs skip for the tenants not begun.
func (m *migration) each(ctx context.Context, phase string, tenants []*Tenant, do func(context.Context, int, *Tenant), skip func(int, *Tenant)) {
	m.prog.enter(phase, len(tenants))
	next := make(chan int)
	var wg sync.WaitGroup
	for range m.cfg.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				do(ctx, i, tenants[i])
				m.prog.done.Add(1)
			}
		}()
	}
	for i, t := range tenants {
		if ctx.Err() != nil {
			skip(i, t)
			continue
		}
		select {
		case next <- i:
		case <-ctx.Done():
			skip(i, t)
		}
	}
	close(next)
	wg.Wait()
}
