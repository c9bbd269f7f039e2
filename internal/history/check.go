package history

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// partition is one tenant's history from one checkpoint to the next: the
// unit porcupine checks.
type partition struct {
	tenant      int
	first, last int // rounds
	ops         []porcupine.Operation
	src         []*Op // parallel to ops; nil for the init op
}

func (p *partition) name() string {
	if p.first == p.last {
		return fmt.Sprintf("tenant %d, round %d", p.tenant, p.first)
	}
	return fmt.Sprintf("tenant %d, rounds %d-%d", p.tenant, p.first, p.last)
}

// partitions cuts the history into partitions: per tenant, and per
// stretch of rounds between two checkpoints. A partition starts with an
// init op that puts the model in the state the previous checkpoint read
// (the checkpoint itself is checked, as reads, in the previous
// partition). A write whose outcome is unknown may take effect until the
// end of its partition, or not at all; it stays open in the next
// partition too (it may have taken effect on either side of the
// checkpoint), and is assumed to be over after that.
func (r *runner) partitions() []*partition {
	type segment struct {
		first, last int
		start       *checkpoint // the checkpoint before it, nil for the first
	}
	var segs []segment
	first := 0
	var prev *checkpoint
	marks := map[int]*checkpoint{}
	for i := range r.marks {
		marks[r.marks[i].round] = &r.marks[i]
	}
	for _, rr := range r.rounds {
		if cp := marks[rr.Index]; cp != nil || rr.Index == len(r.rounds)-1 {
			segs = append(segs, segment{first: first, last: rr.Index, start: prev})
			first = rr.Index + 1
			if cp != nil {
				prev = cp
			}
		}
	}
	byTenant := map[int][]*Op{}
	for _, op := range r.ops {
		if !op.Refused && !op.NoEvent {
			byTenant[op.Tenant] = append(byTenant[op.Tenant], op)
		}
	}
	var out []*partition
	for t := range r.cfg.Tenants {
		last := State{}
		var lingering []*Op
		for _, s := range segs {
			p := &partition{tenant: t, first: s.first, last: s.last}
			var own []*Op
			for _, op := range byTenant[t] {
				if op.Round >= s.first && op.Round <= s.last {
					own = append(own, op)
				}
			}
			initAt := int64(-1)
			startSeq := uint64(0) // the tenant's seq at the checkpoint that opens the segment
			if s.start != nil {
				initAt = s.start.end + 1
				if st, ok := s.start.states[t]; ok {
					last = st
					startSeq = st.SeqHi
				}
			}
			// A write of unknown outcome that the store's events settled
			// (its event's seq is known) took effect on one side of the
			// checkpoint or the other: it belongs to that side only.
			endSeq := ^uint64(0) // the tenant's seq at the checkpoint that closes it
			if cp := marks[s.last]; cp != nil {
				if st, ok := cp.states[t]; ok {
					endSeq = st.SeqHi
				}
			}
			settled := func(op *Op) bool { return op.Output.Unknown && op.Output.SeqKnown }
			own = slices.DeleteFunc(own, func(op *Op) bool { return settled(op) && op.Output.Seq > endSeq })
			var carried []*Op
			for _, op := range lingering {
				if !settled(op) || op.Output.Seq > startSeq {
					carried = append(carried, op)
				}
			}
			if len(own) > 0 {
				end := initAt + 1
				for _, op := range own {
					end = max(end, op.Return+1)
				}
				p.add(porcupine.Operation{ClientId: r.readerClient(), Input: &Input{Kind: Init, State: last}, Output: &Output{}, Call: initAt, Return: initAt}, nil)
				for _, op := range carried {
					p.add(r.operation(op, end, " (open since an earlier round)"), op)
				}
				for _, op := range own {
					p.add(r.operation(op, end, ""), op)
				}
				out = append(out, p)
			}
			lingering = lingering[:0]
			for _, op := range byTenant[t] {
				// Unknown writes of the segment, and settled ones whose
				// event is past its closing checkpoint.
				if op.Round >= s.first && op.Round <= s.last && op.Output.Unknown {
					lingering = append(lingering, op)
				}
			}
		}
	}
	return out
}

func (p *partition) add(op porcupine.Operation, src *Op) {
	p.ops = append(p.ops, op)
	p.src = append(p.src, src)
}

// operation is op for porcupine; an op of unknown outcome returns at end.
func (r *runner) operation(op *Op, end int64, note string) porcupine.Operation {
	ret := op.Return
	if op.Output.Unknown {
		ret = end
	}
	return porcupine.Operation{ClientId: op.Client, Input: &op.Input, Output: &op.Output, Call: op.Call, Return: ret, Metadata: r.metadata(op) + note}
}

func (r *runner) metadata(op *Op) string {
	s := fmt.Sprintf("op %d, client %d, replica %s, /%s, called %s, returned %s, round %d", op.ID, op.Client, replicaName(op.Replica), op.API, durationOf(op.Call), durationOf(op.Return), op.Round)
	if op.Err != "" {
		s += ", " + op.Err
	}
	return s
}

// check checks the history and builds the report.
func (r *runner) check() *Report {
	rep := &Report{Replicas: r.cfg.Replicas, Tenants: r.cfg.Tenants, Clients: r.cfg.Clients, Dir: r.cfg.Dir, Rounds: r.rounds}
	r.settleUnknown()
	r.countOps(rep)
	for _, rr := range r.rounds {
		if rr.Error != "" {
			rep.add(Violation{Kind: KindAborted, Round: rr.Index, Fault: rr.Fault, Tenant: -1, Summary: "the run stopped: " + rr.Error})
			continue
		}
		for _, c := range rr.Crashes {
			rep.add(Violation{Kind: KindCrash, Round: rr.Index, Fault: rr.Fault, Tenant: -1, Summary: c})
		}
		if !rr.Converged {
			rep.add(Violation{Kind: KindConvergence, Round: rr.Index, Fault: rr.Fault, Tenant: -1,
				Summary: fmt.Sprintf("replicas did not answer the same state within %v of the heal and quiet", r.cfg.ConvergeWithin),
				Details: rr.Divergence})
		}
	}
	for _, a := range r.anomalies {
		rep.add(Violation{Kind: KindAnswer, Round: -1, Tenant: -1, Summary: a})
	}
	r.checkMinSeqReads(rep)
	r.checkLinearizable(rep)
	return rep
}

// checkLinearizable runs porcupine over every partition. A partition
// without a linearization is checked again with stale seqs of writes that
// changed nothing allowed (see step), to tell a stale consistency token
// from a wrong answer or a lost write, and explained.
func (r *runner) checkLinearizable(rep *Report) {
	parts := r.partitions()
	begin := time.Now()
	res, info, complete := runPorcupine(parts, true, r.cfg.CheckTimeout)
	rep.Check = CheckReport{Partitions: len(parts), Seconds: time.Since(begin).Seconds()}
	for _, p := range parts {
		rep.Check.Operations += len(p.ops)
	}
	switch res {
	case porcupine.Ok:
		rep.Check.Result = "linearizable"
		return
	case porcupine.Illegal:
		rep.Check.Result = "not linearizable"
	default:
		rep.Check.Result = "undecided (timed out)"
	}
	var failed []*partition
	var strictPrefixes [][]int
	for i, p := range parts {
		if complete[i] == nil {
			failed = append(failed, p)
			strictPrefixes = append(strictPrefixes, longestOf(info.PartialLinearizations()[i]))
		}
	}
	rep.Check.Failed = len(failed)
	_, lenientInfo, lenient := runPorcupine(failed, false, r.cfg.CheckTimeout)
	for i, p := range failed {
		var v Violation
		if lenient[i] != nil {
			v = r.explain(p, strictPrefixes[i], true)
			v.Class = ClassStaleSeq
			v.Summary += "; with stale seqs allowed it linearizes: every answer and the state are right, but writes that changed nothing answered seqs older than the state's"
		} else {
			v = r.explain(p, longestOf(lenientInfo.PartialLinearizations()[i]), false)
			v.Class = ClassState
			v.Summary += " (even with stale seqs of writes that changed nothing allowed: an answer or the state is wrong)"
		}
		if res != porcupine.Illegal {
			v.Kind = KindUndecided
			v.Summary = "the check timed out before deciding; " + v.Summary
		}
		rep.add(v)
	}
	var notes []porcupine.Annotation
	for _, f := range r.faultsAt {
		notes = append(notes, porcupine.Annotation{Tag: "faults", Start: f.start, End: f.end,
			Description: fmt.Sprintf("round %d: %s", f.round, f.fault), Details: f.detail, BackgroundColor: "#f8d7da"})
	}
	for _, cp := range r.marks {
		notes = append(notes, porcupine.Annotation{Tag: "checkpoints", Start: cp.end, Description: fmt.Sprintf("round %d converged", cp.round)})
	}
	info.AddAnnotations(notes)
	path := filepath.Join(r.cfg.Dir, "history.html")
	if err := porcupine.VisualizePath(model(true), info, path); err != nil {
		rep.add(Violation{Kind: KindAnswer, Round: -1, Tenant: -1, Summary: "writing the visualization: " + err.Error()})
		return
	}
	rep.Visualization = path
}

// runPorcupine checks the partitions; complete[i] is partition i's
// linearization, nil if it has none (or the check timed out first).
func runPorcupine(parts []*partition, strict bool, timeout time.Duration) (porcupine.CheckResult, porcupine.LinearizationInfo, [][]int) {
	var flat []porcupine.Operation
	for _, p := range parts {
		flat = append(flat, p.ops...)
	}
	m := model(strict)
	m.Partition = func([]porcupine.Operation) [][]porcupine.Operation {
		out := make([][]porcupine.Operation, len(parts))
		for i, p := range parts {
			out[i] = p.ops
		}
		return out
	}
	res, info := porcupine.CheckOperationsVerbose(m, flat, timeout)
	complete := make([][]int, len(parts))
	if len(parts) == 0 {
		return res, info, complete
	}
	for i, ls := range info.PartialLinearizations() {
		if l := longestOf(ls); len(l) == len(parts[i].ops) {
			complete[i] = l
		}
	}
	return res, info, complete
}

func longestOf(ls [][]int) []int {
	var longest []int
	for _, l := range ls {
		if len(l) > len(longest) {
			longest = l
		}
	}
	return longest
}

// explain describes a partition without a linearization: the longest
// linearizable prefix porcupine found, the state it leads to, the
// operations that cannot come next and why, and the timeline of the
// facts they are about.
func (r *runner) explain(p *partition, longest []int, strict bool) Violation {
	rounds := r.rounds[p.first : p.last+1]
	faults := make([]string, 0, len(rounds))
	for _, rr := range rounds {
		faults = append(faults, string(rr.Fault))
	}
	v := Violation{Kind: KindLinearizability, Round: p.first, Fault: rounds[0].Fault, Tenant: p.tenant}
	state := State{}
	placed := make([]bool, len(p.ops))
	for _, id := range longest {
		_, state = step(state, p.ops[id].Input.(*Input), p.ops[id].Output.(*Output), strict)
		placed[id] = true
	}
	// The frontier: unplaced ops that could have come next, the ones
	// called before the first unplaced op returned.
	horizon := int64(1<<63 - 1)
	for i, op := range p.ops {
		if !placed[i] {
			horizon = min(horizon, op.Return)
		}
	}
	var frontier []int
	for i, op := range p.ops {
		if !placed[i] && op.Call <= horizon {
			frontier = append(frontier, i)
		}
	}
	sort.Slice(frontier, func(a, b int) bool { return p.ops[frontier[a]].Call < p.ops[frontier[b]].Call })
	v.Summary = fmt.Sprintf("%s (%s): no linearization; %d of %d operations linearize, then none of %d candidates can come next",
		p.name(), strings.Join(faults, ", "), len(longest), len(p.ops), len(frontier))
	v.Details = append(v.Details, "state after the longest linearizable prefix: "+state.String())
	var about []elem
	for n, i := range frontier {
		if n == 8 {
			v.Details = append(v.Details, fmt.Sprintf("... and %d more candidates", len(frontier)-n))
			break
		}
		in, out := p.ops[i].Input.(*Input), p.ops[i].Output.(*Output)
		why, es := whyNot(state, in, out, strict)
		v.Details = append(v.Details, fmt.Sprintf("cannot come next: %s [%s]: %s", describeOp(in, out), p.ops[i].Metadata, why))
		about = append(about, es...)
	}
	if gap := missingSeq(state, p, frontier); gap > 0 {
		// No write that may have happened accounts for the next event:
		// name the refused ones that could have made it, those still in
		// flight when the state's last event was made.
		var since int64
		for _, id := range longest {
			if src := p.src[id]; src != nil && src.Output.SeqKnown && src.Output.Seq == state.SeqHi && (since == 0 || src.Call < since) {
				since = src.Call
			}
		}
		var cands []string
		for _, op := range r.ops {
			if op.Tenant == p.tenant && op.Refused && op.Round >= p.first && op.Round <= p.last && op.Call <= horizon && op.Return >= since {
				cands = append(cands, fmt.Sprintf("%s-%s %s refused (%s)  [%s]", durationOf(op.Call), durationOf(op.Return), op.Input.String(), op.Failure, r.metadata(op)))
			}
		}
		stored := ""
		if k := r.storedAt(p.tenant, gap); k != "" {
			stored = " (the store's event " + itoa(gap) + ": " + k + ")"
		}
		v.Details = append(v.Details, fmt.Sprintf("seq %d%s is no write's that may have happened: every candidate answered a later seq. Writes answered as refused (nothing changed) around then, one of which made it:", gap, stored))
		if len(cands) == 0 {
			cands = append(cands, "(none)")
		}
		for _, c := range cands {
			v.Details = append(v.Details, "  "+c)
		}
	}
	slices.SortFunc(about, func(a, b elem) int { return strings.Compare(a.String(), b.String()) })
	about = slices.Compact(about)
	if len(about) > 0 {
		v.Details = append(v.Details, "timeline of "+elemList(about)+":")
		n := 0
		for i, op := range p.ops {
			in := op.Input.(*Input)
			if in.Kind == Read || in.Kind == Init {
				continue
			}
			rel := false
			for _, e := range about {
				rel = rel || bearsOn(in, e)
			}
			if !rel {
				continue
			}
			if n++; n > 40 {
				v.Details = append(v.Details, "  ... (more in the visualization)")
				break
			}
			mark := " "
			if !placed[i] {
				mark = "*"
			}
			v.Details = append(v.Details, fmt.Sprintf(" %s %s-%s %s  [%s]", mark, durationOf(op.Call), returnOf(p.src[i], op.Return), describeOp(in, op.Output.(*Output)), p.ops[i].Metadata))
		}
		v.Details = append(v.Details, "  (* not in the longest linearizable prefix)")
	}
	return v
}

// missingSeq returns the seq after state's if every candidate is a write
// that answered a seq past it (so an event nobody in the history made
// comes first), else 0.
func missingSeq(s State, p *partition, frontier []int) uint64 {
	if len(frontier) == 0 {
		return 0
	}
	for _, i := range frontier {
		in, out := p.ops[i].Input.(*Input), p.ops[i].Output.(*Output)
		if in.Kind == Read || in.Kind == Init || !out.SeqKnown || out.Seq <= s.SeqHi+1 {
			return 0
		}
	}
	return s.SeqHi + 1
}

func returnOf(src *Op, ret int64) string {
	if src != nil && src.Output.Unknown {
		return "?"
	}
	return durationOf(ret)
}

// whyNot says why the model cannot take op in state s, and which facts
// that is about.
func whyNot(s State, in *Input, out *Output, strict bool) (string, []elem) {
	switch in.Kind {
	case Read:
		var diff []string
		var es []elem
		for _, e := range elems() {
			if e.in(s) != e.in(out.State) {
				diff = append(diff, fmt.Sprintf("%s: read %v, model %v", e, e.in(out.State), e.in(s)))
				es = append(es, e)
			}
		}
		if s.Bulk != out.State.Bulk {
			diff = append(diff, fmt.Sprintf("bulk members: read %v, model %v", out.State.Bulk, s.Bulk))
		}
		if out.Garbled != "" {
			diff = append(diff, "garbled: "+out.Garbled)
		}
		if out.SeqKnown && (out.Seq < s.SeqLo || out.Seq > s.SeqHi) {
			diff = append(diff, fmt.Sprintf("seq: read %d, model %d..%d", out.Seq, s.SeqLo, s.SeqHi))
		}
		return strings.Join(diff, "; "), es
	case Init:
		return "init", nil
	}
	result, changed, _ := apply(s, in)
	es := touched(in)
	if out.Unknown && out.SeqKnown {
		return fmt.Sprintf("its event is seq %d (the store says), here seq %d..%d", out.Seq, s.SeqLo+1, s.SeqHi+1), es
	}
	if out.Unknown {
		return "(unknown outcome; it can always be taken)", es
	}
	lo := s.SeqLo
	if changed {
		lo++
	}
	var why []string
	if result != out.Result {
		why = append(why, fmt.Sprintf("here it answers %v", result))
	}
	if out.SeqKnown && (out.Seq < lo && (strict || changed) || out.Seq > s.SeqHi+1) {
		what := "changes nothing, so its seq is the state's"
		if changed {
			what = "changes the state, so it is the next event"
		}
		why = append(why, fmt.Sprintf("here it %s: seq %d..%d, not %d", what, lo, s.SeqHi+1, out.Seq))
	}
	if len(why) == 0 {
		return "it could, but what must follow it cannot", es
	}
	return strings.Join(why, "; "), es
}

func elemList(es []elem) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.String()
	}
	return strings.Join(parts, ", ")
}

// checkMinSeqReads checks each read made with the seq of a write as
// min_seq: it must see that write, unless another write that may come
// after it in seq order could have set what it read.
func (r *runner) checkMinSeqReads(rep *Report) {
	byTenant := map[int][]*Op{}
	for _, op := range r.ops {
		if !op.Refused && !op.NoEvent && op.Input.Kind != Read {
			byTenant[op.Tenant] = append(byTenant[op.Tenant], op)
		}
	}
	for _, rd := range r.reads {
		if rd.Status != 200 || rd.Err != "" {
			continue
		}
		rep.Operations.MinSeqChecked++
		w := rd.Write
		want := after(w, rd.Elem)
		if rd.Value == want {
			continue
		}
		var could bool
		for _, x := range byTenant[w.Tenant] {
			if x == w || x.Call >= rd.Return {
				continue
			}
			if x.Output.SeqKnown && x.Output.Seq <= w.Output.Seq {
				continue // in the state the write answered, or before it
			}
			if sets(&x.Input, rd.Elem)&(1<<b2i(rd.Value)) != 0 {
				could = true
				break
			}
		}
		if could {
			continue
		}
		v := Violation{Kind: KindReadYourWrite, Round: w.Round, Fault: r.rounds[min(w.Round, len(r.rounds)-1)].Fault, Tenant: w.Tenant,
			Summary: fmt.Sprintf("read of %q at replica %s with min_seq=%d answered %v; the write %s at replica %s (%s) left it %v, and no write after it could have made it %v",
				rd.Elem.String(), replicaName(rd.Replica), w.Output.Seq, rd.Value, w.Input.String(), replicaName(w.Replica), outcome(w), want, rd.Value),
		}
		v.Details = append(v.Details, fmt.Sprintf("read %s-%s; write %s-%s", durationOf(rd.Call), durationOf(rd.Return), durationOf(w.Call), durationOf(w.Return)))
		for _, x := range byTenant[w.Tenant] {
			if bearsOn(&x.Input, rd.Elem) && x.Call < rd.Return+int64(time.Second) && x.Return > w.Call-int64(time.Second) {
				v.Details = append(v.Details, fmt.Sprintf("  %s-%s %s  [%s]", durationOf(x.Call), returnOf(x, x.Return), describeOp(&x.Input, &x.Output), r.metadata(x)))
			}
		}
		rep.add(v)
	}
}

func b2i(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// countOps fills the report's operation counts.
func (r *runner) countOps(rep *Report) {
	o := &rep.Operations
	for _, op := range r.ops {
		if op.Input.Kind == Read {
			o.StateReads++
			continue
		}
		o.Writes++
		if op.Input.Kind == Import {
			o.Imports++
		}
		switch {
		case op.Refused:
			o.Refused++
		case op.Output.Unknown:
			o.Unknown++
			switch {
			case op.NoEvent:
				o.UnknownNoEvent++
			case op.Output.SeqKnown:
				o.UnknownPinned++
			}
		default:
			o.Applied++
		}
		if op.Failure != "" {
			if o.Failures == nil {
				o.Failures = map[string]int{}
			}
			o.Failures[op.Failure]++
		}
	}
	for _, rd := range r.reads {
		o.MinSeqReads++
		switch {
		case rd.Status == 409:
			o.MinSeqBehind++
		case rd.Status != 200 || rd.Err != "":
			o.MinSeqFailed++
		}
	}
	o.Total = o.Writes + o.MinSeqReads + o.StateReads
}
