# webhookd: the API and the delivery worker in one static binary.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /webhookd ./cmd/webhookd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /webhookd /webhookd
EXPOSE 8080
ENTRYPOINT ["/webhookd"]
CMD ["serve"]
