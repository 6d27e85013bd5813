# LiveUpdateFs in a container: /dev/liveupdate for every program in it.
#
#   docker build -t liveupdatefs .
#   docker run -it --device /dev/fuse --cap-add SYS_ADMIN --cap-add SYS_PTRACE \
#       -v liveupdatefs-store:/var/lib/liveupdatefs liveupdatefs
#
# (README.md, "Docker", says why each flag is needed.) `docker stop` freezes
# the open sessions into the store volume; `docker start` boots into them.
#
# Plain Dockerfile syntax (no BuildKit-only features): the classic builder
# and BuildKit build it alike.

# ---- the .NET 10 SDK, from the official image ------------------------------
# Only its /usr/share/dotnet is used. The .NET 10 SDK images are Ubuntu 24.04
# (glibc 2.39) only; the runtime image is Debian 12 (glibc 2.36). Compiled on
# Ubuntu, the C programs would need GLIBC_2.38 (with _GNU_SOURCE, atoi/strtol
# become __isoc23_strtol) and a NativeAOT binary could too, and neither would
# start on Debian 12. So the build runs on the runtime's own distribution with
# the official SDK copied in.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS sdk

# ---- build: ./scripts/setup, the one way the project is built -------------
FROM debian:bookworm-slim AS build
COPY --from=sdk /usr/share/dotnet /usr/share/dotnet
# For networks that inspect TLS: extra root certificates (PEM text) that the
# NuGet restore must trust, e.g.
#   --build-arg EXTRA_CA_CERTS="$(cat /usr/local/share/ca-certificates/*.crt)"
# (scripts/docker-test passes this machine's). Build stage only: the runtime
# image makes no TLS connections.
ARG EXTRA_CA_CERTS=
# What the SDK itself needs beyond the slim image: TLS for the NuGet restore
# (libssl3, ca-certificates). ICU is not needed: the SDK runs invariant here
# (the project itself is InvariantGlobalization). The extra certificates go
# in first, one per file, so that the package's update-ca-certificates adds
# them to the bundle.
RUN if [ -n "$EXTRA_CA_CERTS" ]; then \
      mkdir -p /usr/local/share/ca-certificates \
      && printf '%s\n' "$EXTRA_CA_CERTS" | awk '/BEGIN CERTIFICATE/ { n++ } n { print > ("/usr/local/share/ca-certificates/extra-" n ".crt") }'; \
    fi \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ca-certificates libssl3 >/dev/null \
 && ln -s /usr/share/dotnet/dotnet /usr/local/bin/dotnet
ENV DOTNET_ROOT=/usr/share/dotnet \
    DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_NOLOGO=1 \
    DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# For machines whose NuGet cannot reach the certificate revocation servers
# (scripts/docker-test passes "offline", as the host is configured); empty =
# NuGet's default (online).
ARG NUGET_CERT_REVOCATION_MODE=
WORKDIR /src
COPY . .
# scripts/setup installs its own build packages (gcc, make, libfuse3-dev, and
# whatever its publish mode needs) and builds everything into artifacts/.
# Then /out receives exactly what the runtime image gets, at its final paths:
# all of artifacts/ (bin, lib, include, tests/c, examples...) as
# /opt/liveupdatefs, and the .NET runtime only when artifacts/bin is a
# framework-dependent app (its runtimeconfig.json names a "framework"; the
# NativeAOT or a self-contained publish brings its own runtime).
RUN NUGET_CERT_REVOCATION_MODE="${NUGET_CERT_REVOCATION_MODE:-online}" ./scripts/setup \
 && mkdir -p /out/opt \
 && cp -a artifacts /out/opt/liveupdatefs \
 && if grep -qs '"framework' artifacts/bin/liveupdatefs.runtimeconfig.json; then \
      mkdir -p /out/usr/share/dotnet/shared \
      && cp -a /usr/share/dotnet/dotnet /usr/share/dotnet/host /usr/share/dotnet/LICENSE.txt \
               /usr/share/dotnet/ThirdPartyNotices.txt /out/usr/share/dotnet/ \
      && cp -a /usr/share/dotnet/shared/Microsoft.NETCore.App /out/usr/share/dotnet/shared/; \
    fi

# ---- runtime ---------------------------------------------------------------
FROM debian:bookworm-slim
# fuse3: libfuse3.so.3, which the daemon binds to, and fusermount3.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fuse3 >/dev/null \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /
COPY docker/entrypoint.sh /usr/local/bin/liveupdatefs-entrypoint
# (DOTNET_ROOT matters only for a framework-dependent build.)
ENV PATH=/opt/liveupdatefs/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    DOTNET_ROOT=/usr/share/dotnet \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_NOLOGO=1
# Every dynamically linked program in the container gets the preload library
# without LD_PRELOAD (the library is inert in the daemon itself, and in any
# program run with LIVEUPDATEFS_PRELOAD=off). Written last, so no build step
# above runs with it; the check below runs with it, as every program will.
RUN echo /opt/liveupdatefs/lib/libliveupdate-preload.so > /etc/ld.so.preload \
 && liveupdatefs --help >/dev/null
# The store: the sessions frozen by `docker stop` wait here for the next start.
VOLUME /var/lib/liveupdatefs
ENTRYPOINT ["/usr/local/bin/liveupdatefs-entrypoint"]
CMD ["bash"]
