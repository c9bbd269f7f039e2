# The auth-server image, built as goreleaser builds Go images: a static
# binary (CGO_ENABLED=0) copied into an empty image. Nothing is compiled or
# downloaded here; deploy/image.sh builds the binary, gathers the CA
# certificates and the user's files into deploy/.build/rootfs, and runs
# docker build. Build it with:
#
#	deploy/image.sh            # the image "auth-server"
#
# and run it as the original's page does:
#
#	docker run -e MONGO_HOST=mongo -e MONGO_PORT=27017 -p 4000:4000 auth-server
FROM scratch

# The binary, the CA certificates (TLS to MongoDB and NATS) and /etc/passwd
# naming the user below; owned by root, read-only to the server.
COPY deploy/.build/rootfs/ /
# The data folder of the embedded store, the only place the server writes.
COPY --chown=65532:65532 deploy/.build/data/ /data/

# Not root: a user of no privilege, by number (there is no shell to add one).
USER 65532:65532
ENV AUTH_ADDR=:4000 \
    AUTH_DATA=/data
EXPOSE 4000
VOLUME ["/data"]
# "auth-server health" asks the server's /healthz: no shell, no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["/auth-server", "health"]
ENTRYPOINT ["/auth-server"]
