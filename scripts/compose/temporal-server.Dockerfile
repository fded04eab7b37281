# Local substitute of temporalio/server (make test-compose): the server
# built from go.temporal.io/server at the version tools/temporal-server pins
# (the image's tag; the same binary make test-cluster runs), and the
# temporal CLI, where the image has them, run as the image's user.
# docker-compose.yml names its entrypoint, so the image's own
# (environment-templated configuration) is not needed.
ARG BASE
FROM ${BASE}
RUN groupadd -g 1000 temporal && useradd -u 1000 -g temporal -M -d /etc/temporal temporal && \
    mkdir -p /etc/temporal/config/dynamicconfig && chown -R temporal:temporal /etc/temporal
COPY temporal-server temporal /usr/local/bin/
WORKDIR /etc/temporal
USER temporal
EXPOSE 6933 6934 6935 6939 7233 7234 7235 7239
ENTRYPOINT ["/bin/sh", "-c", "echo 'local substitute of temporalio/server: runs the entrypoint docker-compose.yml names' >&2; exit 1"]
