# syntax=docker/dockerfile:1
# The znak local module in a container (see README, "Docker"):
#   docker build -t znak .
#   docker run --rm -i -v znak-data:/var/lib/znak znak lm passwd --data /var/lib/znak/lm <<< 'a long password'
#   docker run -d --name znak-lm -p 5995:5995 -v znak-data:/var/lib/znak znak

# Build stage: the release binary (thin LTO, stripped) from the locked dependency set.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p znak \
    && install -m 0755 target/release/znak /usr/local/bin/znak

# Runtime stage: Debian slim (same glibc as the builder), an unprivileged user, data on a volume.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --user-group --uid 10001 --home-dir /var/lib/znak --no-create-home \
        --shell /usr/sbin/nologin znak \
    && install -d -o znak -g znak -m 0750 /var/lib/znak /var/lib/znak/lm
COPY --from=builder /usr/local/bin/znak /usr/local/bin/znak
COPY packaging/docker/lm.toml /etc/znak/lm.toml
USER znak
VOLUME ["/var/lib/znak"]
EXPOSE 5995
# `status` needs no auth and answers in every state; a module that does not answer is unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:5995/api/v2/status || exit 1
ENTRYPOINT ["/usr/local/bin/znak"]
CMD ["lm", "serve", "--config", "/etc/znak/lm.toml"]
