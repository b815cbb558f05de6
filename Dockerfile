# qoo10hook: a static binary on a distroless base, running as non-root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The build context has no .git: say what is built, e.g.
#   docker build --build-arg VERSION=$(git describe --tags --always) --build-arg REVISION=$(git rev-parse HEAD) .
ARG VERSION=dev
ARG REVISION=
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags="-s -w -X github.com/qoo10hook/qoo10hook/app.version=${VERSION} -X github.com/qoo10hook/qoo10hook/app.revision=${REVISION}" \
      -o /out/qoo10hook ./cmd/qoo10hook \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/qoo10hook /usr/local/bin/qoo10hook
COPY --from=build --chown=nonroot:nonroot /out/data /data
USER nonroot:nonroot
# The image has no shell to set a umask in: qoo10hook sets its own (077),
# so the store it creates under /data is readable by nonroot only.
ENV QOO10HOOK_STORE=sqlite:/data/qoo10hook.db \
    QOO10HOOK_SMTP_ADDR=:2525 \
    QOO10HOOK_HTTP_ADDR=:8080 \
    QOO10HOOK_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 2525 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
  CMD ["/usr/local/bin/qoo10hook", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/qoo10hook"]
CMD ["serve"]
