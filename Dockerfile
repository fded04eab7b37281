# webhookd: the API and the delivery worker in one static binary, on a base
# without a shell, as a non-root user.
#
# Both bases are build arguments, so the image builds where the public ones
# cannot be pulled (make test-compose passes locally built ones):
#   BUILD_IMAGE    a Go toolchain of go.mod's version, with a shell
#   RUNTIME_IMAGE  a base for a static binary: CA certificates, tzdata, a
#                  non-root user; nothing else is needed
ARG BUILD_IMAGE=golang:1.26
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
# Only what the binary is built from, so that a change elsewhere (docs,
# tests' data, scripts) keeps the build layer cached.
COPY cmd cmd
COPY internal internal
COPY pkg pkg
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /webhookd ./cmd/webhookd

FROM ${RUNTIME_IMAGE}
COPY --from=build /webhookd /webhookd
# distroless's nonroot user, by number so that Kubernetes' runAsNonRoot can
# check it whatever the base.
USER 65532:65532
# In a container the API must listen beyond loopback.
ENV HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080 9464
# For the default command (serve) and `api`: GET /readyz on HTTP_ADDR's port
# answers 200 (PostgreSQL and Temporal answer). A `worker` container names
# its own check (docker-compose.yml). No shell or curl in the image: the
# binary does the request.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["/webhookd", "healthcheck"]
ENTRYPOINT ["/webhookd"]
CMD ["serve"]
