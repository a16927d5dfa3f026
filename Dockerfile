# floe: multi-stage build. confluent-kafka-go links a bundled static
# librdkafka through cgo, so the builder needs a C compiler (golang images
# have gcc) and the runtime the same glibc as the builder (both bookworm).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The build context has no .git (.dockerignore), so the version and commit
# `floe version` prints come in as build arguments:
#   docker build --build-arg VERSION=v1.2.3 --build-arg COMMIT=$(git rev-parse HEAD) .
ARG VERSION=""
ARG COMMIT=""
# -s -w: no symbol table or DWARF (smaller image; panics keep their stack
# traces, which come from the pclntab, not from the symbols).
RUN CGO_ENABLED=1 go build -trimpath \
      -ldflags="-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/floe ./cmd/floe

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --create-home floe \
 && mkdir -p /keys /data \
 && chown floe:floe /keys /data
COPY --from=build /out/floe /usr/local/bin/floe
USER floe
WORKDIR /data
# floe run's /healthz, /readyz and /metrics (--http).
EXPOSE 9464
ENTRYPOINT ["floe"]
CMD ["help"]
