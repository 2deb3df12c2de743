# kessai container image: built with the Rust toolchain, run on distroless (glibc, CA
# certificates, no shell, no package manager) as the non-root user 65532:65532.
#
#   docker build -t kessai:0.1.0 .
#
# Configuration is by KESSAI_* environment variables only (see docs/configuration.md); the Helm chart in
# helm/kessai sets them. The image writes nothing to disk when given a PostgreSQL URL, so it runs
# with a read-only root filesystem.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# The whole workspace (.dockerignore leaves out target/, .git and local databases). The proto
# files are compiled by build.rs with a pure-Rust compiler: no protoc needed.
COPY . .
RUN cargo build --release --locked --bin kessai

# cc: glibc and libgcc for the binary (bookworm, as in the build stage); nonroot: UID/GID 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="kessai" \
      org.opencontainers.image.description="gRPC payment gateway" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /src/target/release/kessai /usr/local/bin/kessai
# Inside a container the gRPC server must listen on every interface, not loopback.
ENV KESSAI_LISTEN_ADDR=0.0.0.0:50051
# gRPC, Prometheus metrics, provider webhooks.
EXPOSE 50051 9090 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kessai"]
CMD ["serve"]
