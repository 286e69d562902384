# syntax=docker/dockerfile:1
# dpa's container image: the image `make image-tar` (cmd/dpa-image) builds without a container
# engine. internal/image defines it (image.DPA); test/e2e/image_test.go holds the final stage,
# the rootfs installs and the base images' versions to that definition.
#
#   docker build --build-arg VERSION=v$(cat VERSION) --build-arg REVISION=$(git rev-parse --short HEAD) \
#     -t dataplane-aggregator/dpa:v$(cat VERSION) .

# 1. The standalone UI bundle, which `go build ./cmd/dpa` embeds from pkg/ui/dist.
#    Node 22 (>= 22.15): webpack-cli's dependency rechoir needs it.
FROM node:22-bookworm AS ui
WORKDIR /src/plugin
COPY plugin/package.json plugin/package-lock.json ./
# npm install, not npm ci, as in plugin/scripts/build-ui.sh: the lock still pins every version.
RUN --mount=type=cache,target=/root/.npm npm install --no-audit --no-fund
COPY plugin/ ./
RUN npm run build:standalone && test -f ../pkg/ui/dist/index.html

# 2. The static binary and the image's root filesystem.
FROM golang:1.26.5-bookworm AS build
ARG VERSION
ARG REVISION
ARG SOURCE_DATE_EPOCH=0
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
COPY --from=ui /src/pkg/ui/dist/ pkg/ui/dist/
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    test -n "$VERSION" || { echo 'build with --build-arg VERSION=v<version>' >&2; exit 1; }; \
    CGO_ENABLED=0 go build -trimpath \
      -ldflags "-X github.com/dataplane-aggregator/dpa/pkg/version.Version=${VERSION} -X github.com/dataplane-aggregator/dpa/pkg/version.GitCommit=${REVISION}" \
      -o /out/dpa ./cmd/dpa
# One install per entry of image.DPA.Files, in its order, with its mode and owner; then every
# file time is SOURCE_DATE_EPOCH, as dpa-image stamps them.
RUN install -d -m 0755 -o 0 -g 0 /rootfs/etc \
 && install -m 0644 -o 0 -g 0 internal/image/rootfs/etc/passwd /rootfs/etc/passwd \
 && install -m 0644 -o 0 -g 0 internal/image/rootfs/etc/group /rootfs/etc/group \
 && install -d -m 0755 -o 0 -g 0 /rootfs/etc/dpa \
 && install -d -m 0755 -o 0 -g 0 /rootfs/etc/ssl \
 && install -d -m 0755 -o 0 -g 0 /rootfs/etc/ssl/certs \
 && install -m 0644 -o 0 -g 0 /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt \
 && install -d -m 1777 -o 0 -g 0 /rootfs/tmp \
 && install -d -m 0755 -o 0 -g 0 /rootfs/usr \
 && install -d -m 0755 -o 0 -g 0 /rootfs/usr/local \
 && install -d -m 0755 -o 0 -g 0 /rootfs/usr/local/bin \
 && install -m 0755 -o 0 -g 0 /out/dpa /rootfs/usr/local/bin/dpa \
 && install -d -m 0755 -o 0 -g 0 /rootfs/var \
 && install -d -m 0755 -o 0 -g 0 /rootfs/var/lib \
 && install -d -m 0700 -o 65532 -g 65532 /rootfs/var/lib/dpa \
 && install -d -m 0755 -o 0 -g 0 /rootfs/var/lib/grafana \
 && install -d -m 0755 -o 65532 -g 65532 /rootfs/var/lib/grafana/plugins \
 && find /rootfs -exec touch -h -d "@${SOURCE_DATE_EPOCH}" {} +

# 3. The image: that filesystem and nothing else. COPY --from keeps the owners and modes of
#    what it copies (the contents of /rootfs/, not the directory itself).
FROM scratch
ARG VERSION
ARG REVISION
COPY --from=build /rootfs/ /
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/dpa"]
CMD ["serve", "--data-dir=/var/lib/dpa", "--bind-address=0.0.0.0", "--plugins-dir=/var/lib/grafana/plugins"]
WORKDIR /var/lib/dpa
EXPOSE 6443/tcp
VOLUME ["/var/lib/dpa"]
ENV PATH=/usr/local/bin TMPDIR=/tmp
LABEL org.opencontainers.image.title=dpa \
      org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.revision=${REVISION} \
      org.opencontainers.image.source=https://github.com/dataplane-aggregator/dpa
