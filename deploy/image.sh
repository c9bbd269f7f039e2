#!/usr/bin/env bash
# Builds the auth-server image: a static binary (CGO_ENABLED=0) for the
# Docker engine's architecture, the CA certificates of this machine and
# the image's /etc/passwd, then `docker build` of the Dockerfile at the
# root of the repository, FROM scratch.
#
#	deploy/image.sh [TAG]     TAG defaults to auth-server
#
# Needs Go and a Docker engine; pulls nothing. The CA certificates are
# $SSL_CERT_FILE, or the first bundle found where Linux distributions keep
# it.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 022

tag=${1:-auth-server}
arch=$(docker version -f '{{.Server.Arch}}')
out=deploy/.build
rm -rf "$out/rootfs" "$out/data"
mkdir -p "$out/rootfs/etc/ssl/certs" "$out/data"
chmod 0700 "$out/data"

echo "== go build auth-server (linux/$arch, static)"
CGO_ENABLED=0 GOOS=linux GOARCH="$arch" \
	go build -trimpath -ldflags='-s -w' -o "$out/rootfs/auth-server" ./cmd/auth-server

ca=""
for f in "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt \
	/etc/ssl/ca-bundle.pem /etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem /etc/ssl/cert.pem; do
	if [ -n "$f" ] && [ -s "$f" ]; then ca=$f; break; fi
done
if [ -z "$ca" ]; then
	echo "image.sh: no CA certificate bundle found; set SSL_CERT_FILE to one (PEM)" >&2
	exit 1
fi
cp "$ca" "$out/rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/:/nonexistent\nauth:x:65532:65532:auth-server:/data:/nonexistent\n' >"$out/rootfs/etc/passwd"
printf 'root:x:0:\nauth:x:65532:\n' >"$out/rootfs/etc/group"

echo "== docker build -t $tag"
docker build -q -t "$tag" -f Dockerfile . >/dev/null
size=$(docker image inspect -f '{{.Size}}' "$tag")
user=$(docker image inspect -f '{{.Config.User}}' "$tag")
echo "image $tag: $((size / 1000000)) MB ($size bytes), user $user"
