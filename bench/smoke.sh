#!/usr/bin/env bash
# The benchmarks' quick check, for CI: vet, unit tests, and every authbench
# command end to end on a tiny dataset, in well under a minute once built.
# It fails on any error, failed request or answer that differs from the
# dataset's ground truth. The full runs (RESULTS.md) are never part of CI.
#
# bench/ is a module of its own, so `go test ./...` at the repository root
# does not reach it: CI calls this script.
set -euo pipefail
cd "$(dirname "$0")"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go vet ./...
go test -count=1 ./...
go build -o "$tmp/authbench" ./cmd/authbench
ab="$tmp/authbench"
# AUTHBENCH_REV=HEAD builds auth-server from that revision instead of the
# working tree (for running the smoke while the tree is mid-edit).
rev=()
if [[ -n "${AUTHBENCH_REV:-}" ]]; then rev=(-rev "$AUTHBENCH_REV"); fi

# The ceiling, auth-server on the embedded store (loaded through the API,
# verified, closed and open loop, mixed and writes) and the in-process
# engine vs Casbin comparison.
"$ab" compare -smoke "${rev[@]}" -json "$tmp/compare.json" -md "$tmp/compare.md" -chart "$tmp/compare.png"
"$ab" chart -in "$tmp/compare.json" -out "$tmp/compare.svg"
"$ab" report "$tmp/compare.json" >/dev/null

# The scaling series' smallest points, and a cold start from a seeded store.
"$ab" scale -max-users 1000 -benchtime 100x -json "$tmp/scale.json" >/dev/null
"$ab" coldstart "${rev[@]}" -users 2000 -roles 50 -perms 500 -grants-per-role 5 -runs 1 -verify 200 -json "$tmp/cold.json" >/dev/null
"$ab" report "$tmp/scale.json" "$tmp/cold.json" >/dev/null

# The history checker, tiny: the lost-revoke scenario (first round) and a
# replica killed. It fails on any violation of the model: linearizability,
# read-your-writes, convergence (see internal/history).
"$ab" history "${rev[@]}" -rounds 2 -ops 50 -faults kill -bulk-lines 1000 -json "$tmp/history.json" >/dev/null
"$ab" report "$tmp/history.json" >/dev/null

# Hostile clients at small sizes: refusals, memory bounds, checks answering.
"$ab" attack -smoke "${rev[@]}" -json "$tmp/attack.json" >/dev/null
"$ab" report "$tmp/attack.json" >/dev/null

echo "bench smoke: ok"
