#!/usr/bin/env bash
# The container test: builds the auth-server image (deploy/image.sh) and
# the test images of MongoDB and NATS from this repository's own Go
# programs, checks the image (size, user), runs the original's
# `docker run` line and a bare `docker run -p`, then starts the compose
# cluster (compose.yaml with compose.test.yaml) and runs clustertest
# through it: the story through each replica, a replica's container
# stopped and started, another killed and started, one cut off the network
# and reconnected, MongoDB paused; every acknowledged write must hold at
# every replica, and they must converge; a replica whose server stops
# answering must turn unhealthy. Everything it starts it removes.
#
# Where no Docker engine answers, it says so and exits 0 (skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
umask 022

if ! docker info >/dev/null 2>&1; then
	echo "deploy/test.sh: SKIPPED: no Docker engine answers (\`docker info\` failed); the container test needs one"
	exit 0
fi
if docker compose version >/dev/null 2>&1; then
	compose=(docker compose)
elif command -v docker-compose >/dev/null; then
	compose=(docker-compose)
else
	echo "deploy/test.sh: a Docker engine answers but neither \`docker compose\` nor docker-compose is installed" >&2
	exit 1
fi
begin=$(date +%s)
project=authctest$$
export AUTH_CLUSTER_SECRET=container-test-secret-$$-0123456789
dc() { "${compose[@]}" -p "$project" -f deploy/compose.yaml -f deploy/compose.test.yaml "$@"; }
singles=()
cleanup() {
	status=$?
	if [ $status -ne 0 ]; then
		echo "== logs (the test failed)"
		dc logs --no-color --tail=40 2>&1 || true
		for c in "${singles[@]}"; do docker logs --tail=20 "$c" 2>&1 || true; done
	fi
	for c in "${singles[@]}"; do docker rm -f -v "$c" >/dev/null 2>&1 || true; done
	dc down -v --remove-orphans >/dev/null 2>&1 || true
	exit $status
}
trap cleanup EXIT

t=deploy/.build/test
rm -rf "$t"
mkdir -p "$t/mongo/rootfs" "$t/nats/rootfs"
go build -o "$t/clustertest" ./deploy/test/clustertest
# Free loopback ports for the replicas and the single containers.
mapfile -t ports < <("$t/clustertest" ports -n 5)
export AUTH1_PORT=127.0.0.1:${ports[0]} AUTH2_PORT=127.0.0.1:${ports[1]} AUTH3_PORT=127.0.0.1:${ports[2]}

echo "== images"
deploy/image.sh auth-server
arch=$(docker version -f '{{.Server.Arch}}')
build() { CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath -ldflags='-s -w' "$@"; }
(cd internal/testmongo && build -o "../../$t/mongo/rootfs/testmongo" .)
build -o "$t/mongo/rootfs/mongoproxy" ./deploy/test/mongoproxy
build -o "$t/nats/rootfs/nats-server" github.com/nats-io/nats-server/v2
docker build -q -t auth-test-mongo -f deploy/test/mongo.Dockerfile . >/dev/null
docker build -q -t auth-test-nats -f deploy/test/nats.Dockerfile . >/dev/null
echo "images built ($(($(date +%s) - begin)) s)"

echo "== the image: size and user"
size=$(docker image inspect -f '{{.Size}}' auth-server)
limit=$((40 * 1000 * 1000))
if [ "$size" -ge "$limit" ]; then
	echo "FAIL: the image is $size bytes, not under $limit" >&2
	exit 1
fi
user=$(docker image inspect -f '{{.Config.User}}' auth-server)
case "$user" in
"" | 0 | 0:* | root | root:*)
	echo "FAIL: the image runs as root (User \"$user\")" >&2
	exit 1
	;;
esac
echo "auth-server: $size bytes (limit $limit), user $user"

echo "== docker run -p PORT:4000 auth-server (the embedded store)"
c=$(docker run -d -p "127.0.0.1:${ports[3]}:4000" auth-server)
singles+=("$c")
"$t/clustertest" ready -url "http://127.0.0.1:${ports[3]}"
"$t/clustertest" story -url "http://127.0.0.1:${ports[3]}"
uids=$(docker top "$c" -eo pid,uid | awk 'NR > 1 {print $2}' | sort -u | tr '\n' ' ')
if [ "$uids" != "65532 " ]; then
	echo "FAIL: the server's process runs as uid $uids, want 65532 only" >&2
	exit 1
fi
echo "the server's process runs as uid $uids"

echo "== compose up (deploy/compose.yaml + deploy/compose.test.yaml)"
dc up -d
network=${project}_default
docker network inspect "$network" >/dev/null

echo "== the original's line: docker run -e MONGO_HOST=mongo -e MONGO_PORT=27017 -p 4000:4000 auth-server"
# Beside the cluster, on its network, so that "mongo" resolves; a free
# port of the loopback stands for 4000.
c=$(docker run -d --network "$network" -e MONGO_HOST=mongo -e MONGO_PORT=27017 -p "127.0.0.1:${ports[4]}:4000" auth-server)
singles+=("$c")
"$t/clustertest" ready -url "http://127.0.0.1:${ports[4]}"
"$t/clustertest" story -url "http://127.0.0.1:${ports[4]}" -key "original-docker-run-line"
# The logs are read whole before they are searched: with pipefail, grep -q
# stopping at the first match could make docker logs fail on the closed
# pipe, and the check with it.
logs=$(docker logs "$c" 2>&1)
grep -q 'store opened.*store="mongodb mongodb://mongo:27017/' <<<"$logs" ||
	{ echo "FAIL: the container did not open MongoDB at mongo:27017" >&2; echo "$logs" >&2; exit 1; }
echo "it serves from MongoDB at mongo:27017"

echo "== the cluster under faults"
"$t/clustertest" cluster \
	-names auth1,auth2,auth3 \
	-containers "$(dc ps -q auth1),$(dc ps -q auth2),$(dc ps -q auth3)" \
	-urls "http://127.0.0.1:${ports[0]},http://127.0.0.1:${ports[1]},http://127.0.0.1:${ports[2]}" \
	-mongo "$(dc ps -q mongo)" -network "$network"

echo "== container test passed in $(($(date +%s) - begin)) s"
