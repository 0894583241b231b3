# loginvault as a container image: `load --follow` for ECS, Kubernetes or Compose.
#
#   docker build -t loginvault .
#   docker run --rm loginvault --help
#
# Stage 1 builds with the official Swift image, through `make install` (the same step CI
# runs on the host); stage 2 is slim Debian with libpq and sql/, running as a non-root user.

FROM swift:6.3-bookworm AS build
WORKDIR /src
# libpq-dev to build against; LOGINVAULT_DEPS=build keeps the test servers (PostgreSQL, moto,
# promtool) out of the build stage.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends libpq-dev make && rm -rf /var/lib/apt/lists/*
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
COPY sql ./sql
COPY scripts ./scripts
COPY Makefile ./
RUN LOGINVAULT_DEPS=build make install PREFIX=/opt/loginvault \
      SWIFT_BUILD_FLAGS="-c release --static-swift-stdlib"

FROM debian:bookworm-slim
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends libpq5 ca-certificates tzdata libstdc++6 curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 loginvault \
 && useradd --system --uid 10001 --gid loginvault --home-dir /nonexistent --shell /usr/sbin/nologin loginvault
# bin/loginvault and share/loginvault/sql/, where loginvault looks for its migrations.
COPY --from=build /opt/loginvault/ /usr/local/
USER 10001:10001
# The metrics and probes, when --metrics-address (LOGINVAULT_METRICS_ADDRESS) is 0.0.0.0:9464.
EXPOSE 9464
ENV LOGINVAULT_LOG_FORMAT=json
ENTRYPOINT ["loginvault"]
CMD ["--help"]
