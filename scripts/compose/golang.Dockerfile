# Local build base for the Dockerfile (BUILD_IMAGE; make test-compose): the
# host's Go toolchain (go.mod's version) on the debootstrapped base, laid
# out as in golang:1.26, with the main module's dependencies served from a
# file module proxy (no network in the build).
ARG BASE
FROM ${BASE}
COPY go /usr/local/go
COPY modproxy /gomodproxy
ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    GOPATH=/go GOTOOLCHAIN=local GOPROXY=file:///gomodproxy GOSUMDB=off
WORKDIR /go
