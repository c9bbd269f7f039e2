# The test MongoDB image: internal/testmongo (FerretDB over SQLite) behind
# mongoproxy, which forwards port 27017 to it. deploy/test.sh builds both
# binaries (static) into deploy/.build/test/mongo; nothing is pulled.
FROM scratch
COPY deploy/.build/test/mongo/rootfs/ /
COPY --chown=65532:65532 deploy/.build/data/ /data/db/
USER 65532:65532
EXPOSE 27017
VOLUME ["/data/db"]
ENTRYPOINT ["/mongoproxy"]
