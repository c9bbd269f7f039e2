package history

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// convergePoll is how often converge asks the replicas again.
const convergePoll = 100 * time.Millisecond

// export is one replica's export of one tenant.
type export struct {
	op   *Op // the read, for the history
	body []byte
	err  string
}

// converge waits, with the clients quiet, until every replica exports the
// same state at the same seq for every tenant the clients wrote to, for
// at most ConvergeWithin. The exports that agreed become the round's
// checkpoint: read ops of the history. If they never agree, the round has
// no checkpoint and the report says how the replicas differed.
func (r *runner) converge(ctx context.Context, rr *RoundReport) {
	start := time.Now()
	deadline := start.Add(r.cfg.ConvergeWithin)
	var tenants []int
	for t := range r.cfg.Tenants {
		if r.active.Load()&(1<<uint(t)) != 0 {
			tenants = append(tenants, t)
		}
	}
	for {
		all := map[int][]export{}
		agree := true
		for _, t := range tenants {
			exps := r.exportAll(ctx, t)
			all[t] = exps
			if !same(exps) {
				agree = false
			}
		}
		if agree {
			// The exports agree byte for byte: one parse serves them all.
			for _, t := range tenants {
				st, garbled := parseExport(all[t][0].body, r.cfg.BulkLines)
				for _, e := range all[t] {
					e.op.Output.State, e.op.Output.Garbled = st, garbled
				}
			}
			rr.Converged = true
			rr.ConvergeSeconds = time.Since(start).Seconds()
			cp := checkpoint{round: rr.Index, states: map[int]State{}}
			for _, t := range tenants {
				for _, e := range all[t] {
					r.record(e.op)
					cp.end = max(cp.end, e.op.Return)
				}
				o := all[t][0].op.Output
				cp.states[t] = o.State.withSeq(o.Seq)
				rr.Seqs = append(rr.Seqs, TenantSeq{Tenant: t, Seq: o.Seq})
			}
			r.marks = append(r.marks, cp)
			if err := r.readEvents(ctx, tenants); err != nil {
				rr.Notes = append(rr.Notes, "reading the store's events: "+err.Error())
			}
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			rr.ConvergeSeconds = time.Since(start).Seconds()
			for _, t := range tenants {
				if d := differences(all[t], r.cfg.BulkLines); d != "" {
					rr.Divergence = append(rr.Divergence, fmt.Sprintf("tenant %d: %s", t, d))
				}
			}
			return
		}
		select {
		case <-time.After(convergePoll):
		case <-ctx.Done():
		}
	}
}

// exportAll reads tenant t's whole state at every replica.
func (r *runner) exportAll(ctx context.Context, t int) []export {
	out := make([]export, r.cl.replicaCount())
	for i := range out {
		op := &Op{Client: r.readerClient(), Tenant: t, Round: r.currentRound(), Replica: i, API: "v1",
			Input: Input{Kind: Read, Role: -1, Perm: -1, User: -1}}
		e := &out[i]
		e.op = op
		rctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, r.cl.replica(i).base()+"/v1/export", nil)
		if err != nil {
			panic(err)
		}
		req.Header.Set("Authorization", "Bearer "+r.keys[t])
		op.Call = r.now()
		resp, err := r.http.Do(req)
		if err == nil {
			e.body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			op.Status = resp.StatusCode
		}
		op.Return = r.now()
		cancel()
		switch {
		case err != nil:
			e.err = err.Error()
		case resp.StatusCode != http.StatusOK:
			e.err = fmt.Sprintf("%d %.200s", resp.StatusCode, e.body)
		default:
			if n, perr := strconv.ParseUint(resp.Header.Get("X-Auth-Seq"), 10, 64); perr == nil {
				op.Output.Seq, op.Output.SeqKnown = n, true
			} else {
				e.err = "export without X-Auth-Seq"
			}
		}
	}
	return out
}

// same says whether every replica exported the same bytes at the same
// seq.
func same(exps []export) bool {
	for i, e := range exps {
		if e.err != "" || i > 0 && (!bytes.Equal(e.body, exps[0].body) || e.op.Output.Seq != exps[0].op.Output.Seq) {
			return false
		}
	}
	return true
}

// differences says how the replicas' exports differ ("" if they agree).
func differences(exps []export, bulkLines int) string {
	if same(exps) {
		return ""
	}
	var parts []string
	for i, e := range exps {
		if e.err != "" {
			parts = append(parts, fmt.Sprintf("%s: %s", replicaName(i), e.err))
			continue
		}
		st, garbled := parseExport(e.body, bulkLines)
		desc := st.withSeq(e.op.Output.Seq).String()
		if garbled != "" {
			desc = fmt.Sprintf("@%d garbled: %s", e.op.Output.Seq, garbled)
		}
		parts = append(parts, fmt.Sprintf("%s %s", replicaName(i), desc))
	}
	return strings.Join(parts, "; ")
}

func replicaName(i int) string { return string(rune('A' + i)) }

// parseExport turns an export into a model state (seqs zero). What no
// state of the model can hold (a name outside the universe, a role's line
// missing, part of the big import) is described in garbled instead.
func parseExport(body []byte, bulkLines int) (s State, garbled string) {
	index := func(names []string, n string) int8 {
		for i, x := range names {
			if x == n {
				return int8(i)
			}
		}
		return -1
	}
	var problems []string
	bulk := 0
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var l struct {
			Role       *string `json:"role"`
			Permission *string `json:"permission"`
			User       *string `json:"user"`
		}
		if err := json.Unmarshal(line, &l); err != nil || l.Role == nil {
			problems = append(problems, fmt.Sprintf("bad line %.100q", line))
			continue
		}
		role := index(roleNames, *l.Role)
		if role < 0 {
			problems = append(problems, "unknown role "+strconv.Quote(*l.Role))
			continue
		}
		if s.Roles&(1<<uint(role)) == 0 && (l.Permission != nil || l.User != nil) {
			problems = append(problems, "a line of role "+*l.Role+" before its role line")
		}
		switch {
		case l.Permission != nil:
			p := index(permNames, *l.Permission)
			if p < 0 {
				problems = append(problems, "unknown permission "+strconv.Quote(*l.Permission))
				continue
			}
			s.Grants |= bit(role, p)
		case l.User != nil:
			if u := index(userNames, *l.User); u >= 0 {
				s.Members |= bit(role, u)
				continue
			}
			if n, ok := strings.CutPrefix(*l.User, "b-"); ok && role == bulkRole {
				if i, err := strconv.Atoi(n); err == nil && i >= 0 && i < bulkLines-1 && bulkUser(i) == *l.User {
					bulk++
					continue
				}
			}
			problems = append(problems, "unknown user "+strconv.Quote(*l.User))
		default:
			s.Roles |= 1 << uint(role)
		}
	}
	if err := sc.Err(); err != nil {
		problems = append(problems, err.Error())
	}
	switch bulk {
	case 0:
	case bulkLines - 1:
		s.Bulk = true
	default:
		problems = append(problems, fmt.Sprintf("%d of the big import's %d members", bulk, bulkLines-1))
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		if len(problems) > 5 {
			problems = append(problems[:5], fmt.Sprintf("and %d more", len(problems)-5))
		}
		return s, strings.Join(problems, "; ")
	}
	return s, ""
}
