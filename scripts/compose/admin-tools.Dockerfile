# Local substitute of temporalio/admin-tools (make test-compose): a shell,
# temporal-sql-tool (go.temporal.io/server at tools/temporal-server's
# version) and the temporal CLI (tools/temporal's version), on PATH as in
# the image.
ARG BASE
FROM ${BASE}
COPY temporal-sql-tool temporal /usr/local/bin/
CMD ["sh"]
