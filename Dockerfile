# syntax=docker/dockerfile:1.7
# The image of one service binary, chosen by the build argument SERVICE (auth-service,
# socket-service, db-writer, push-service or file-service). Build from the repository root (the
# workspace is one build context):
#
#   docker build --build-arg SERVICE=socket-service -t chat/socket-service .
#
# Build stage: the pinned toolchain of the workspace, Cargo.lock honoured (--locked); the
# registry and target caches survive between builds (BuildKit cache mounts).
FROM rust:1.95-slim-bookworm AS build
ARG SERVICE
RUN test -n "$SERVICE" || { echo "set --build-arg SERVICE=<service>" >&2; exit 1; }
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p "$SERVICE" --bin "$SERVICE" \
    && install -D -m 0755 "target/release/$SERVICE" /out/service

# Runtime: glibc, libgcc and CA certificates only (no shell, no package manager), running as
# the unprivileged user 65532. Configuration comes from CHAT_* variables (README). Every
# service serves its API or its operations endpoints on 8080.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/service /usr/local/bin/service
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/service"]
