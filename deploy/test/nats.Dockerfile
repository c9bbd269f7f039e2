# The test NATS image: nats-server built from the nats-server module the
# root module requires. deploy/test.sh builds it (static) into
# deploy/.build/test/nats; nothing is pulled.
FROM scratch
COPY deploy/.build/test/nats/rootfs/ /
USER 65532:65532
EXPOSE 4222
ENTRYPOINT ["/nats-server"]
