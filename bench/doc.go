// Package bench holds the authorization server's benchmarks. It is a module
// of its own (auth/bench) so that the load generator's and the comparison's
// dependencies (an HDR histogram, Casbin, a plotting library, a NATS server)
// stay out of the product's go.mod.
//
//   - cmd/authbench: the HTTP load generator (closed and open loop), the
//     side-by-side comparison of targets (with, opt-in, SpiceDB and OpenFGA
//     at pinned versions, go-installed into a cache folder on first use, on
//     their own datastores), the scaling series, the seeding of
//     a large data folder, the cold-start timer and the chart.
//   - cmd/ceiling: a bare fasthttp server answering a constant
//     {"result": true} on the check's route shape, the ceiling the server is
//     compared to.
//   - cmd/natsd: a NATS server process for the replicated target (three
//     auth-server replicas on the test MongoDB server).
//   - dataset, loadgen, inproc: the generated dataset with its ground truth,
//     the load generator, and the in-process benchmarks.
//   - inproc_test.go: in-process Go benchmarks, the engine's check against
//     Casbin (plain and cached enforcer) and the scaling series.
//   - smoke.sh: the quick check CI runs; the full runs are never part of CI.
//
// RESULTS.md has the figures and the exact commands.
package bench
