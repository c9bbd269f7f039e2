#!/usr/bin/env bash
# The soak run (not part of CI): builds auth-server, starts it with the
# embedded store in a temporary folder, and holds it under mixed load with a
# slowloris attacker for DURATION (default 5m). Extra arguments go to
# cmd/soak.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
(cd .. && go build -o "$work/auth-server" ./cmd/auth-server)
go build -o "$work/soak" ./cmd/soak
port=${PORT:-4400}
"$work/auth-server" -addr "127.0.0.1:$port" -data "$work/data" -log-level warn &
pid=$!
for _ in $(seq 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
	sleep 0.1
done
"$work/soak" -addr "127.0.0.1:$port" -duration "${DURATION:-5m}" "$@"
echo "server RSS at the end: $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status")"
