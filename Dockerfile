# syntax=docker/dockerfile:1

# Build stage: static binaries for the worker and the command-center CLI (muster).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/muster-worker ./worker && \
    go build -trimpath -ldflags="-s -w" -o /out/muster ./starter

# Runtime stage.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 muster \
 && useradd --system --uid 10001 --gid muster --create-home --home-dir /home/muster \
      --shell /usr/sbin/nologin muster
COPY --from=build /out/muster-worker /out/muster /usr/local/bin/
USER 10001:10001
WORKDIR /home/muster
# CMD rather than ENTRYPOINT, so the same image also runs the CLI:
#   docker compose run --rm worker muster --help
CMD ["/usr/local/bin/muster-worker"]
