#!/usr/bin/env bash
# Drive a freshly built qoo10hook toward exhaustion, one scenario per fresh
# service on its embedded store, and print how it holds:
#   import    a 60 MB GoodsList.csv uploaded while mail arrives at 10/s and
#             webhooks go out: every mail must get 250 within 5 s;
#   inflight  200 clients sending a 12 MB mail each at once (half declaring
#             SIZE): peak RSS must stay under smtp.max_inflight_bytes + 100 MiB
#             and a normal mail must get 250 within 5 s;
#   http      1,000 idle keep-alive connections to /healthz: at most
#             http.max_connections are kept, and mail still gets 250;
#   errors    10,000 pipelined RCPT to unknown addresses: 421 4.7.0 after
#             smtp.max_errors, and the connection is closed.
# Everything runs on 127.0.0.1, each scenario bounded to 10 minutes.
#
# Usage: scripts/abuse-exhaustion.sh [SCENARIO...]   (default: all four)
# Extra environment (QOO10HOOK_*) is passed to the service; EXHAUST_FLAGS
# to the load tool (internal/tools/exhaust), e.g. EXHAUST_FLAGS=-import-mb=3.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d /tmp/qoo10hook-exhaust.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -n "${EXHAUST_KEEP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# QOO10HOOK_BIN runs another build (an older release, to compare).
if [ -n "${QOO10HOOK_BIN:-}" ]; then cp "$QOO10HOOK_BIN" "$tmp/qoo10hook"; else go build -o "$tmp/qoo10hook" ./cmd/qoo10hook; fi
go build -o "$tmp/exhaust" ./internal/tools/exhaust

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
token=exhaust-admin-token-0123456789abcdef
status=0

run() {
  local scenario=$1; shift
  local smtp_port http_port hook_port
  smtp_port=$(free_port); http_port=$(free_port); hook_port=$(free_port)
  rm -rf "$tmp/store"; mkdir -p "$tmp/store"
  echo "== $scenario"
  env QOO10HOOK_SMTP_ADDR="127.0.0.1:$smtp_port" \
    QOO10HOOK_HTTP_ADDR="127.0.0.1:$http_port" \
    QOO10HOOK_STORE="sqlite:$tmp/store/store.db" \
    QOO10HOOK_DOMAINS=in.example.test \
    QOO10HOOK_SENDER_POLICY=off \
    QOO10HOOK_ADMIN_TOKEN="$token" \
    QOO10HOOK_WEBHOOK_URL="http://127.0.0.1:$hook_port/hook" \
    QOO10HOOK_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw \
    QOO10HOOK_LOG_LEVEL="${QOO10HOOK_LOG_LEVEL:-warn}" \
    "$@" "$tmp/qoo10hook" serve >"$tmp/service-$scenario.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 600 "$tmp/exhaust" -scenario "$scenario" -smtp "127.0.0.1:$smtp_port" -http "127.0.0.1:$http_port" \
    -token "$token" -hook "127.0.0.1:$hook_port" -pid "$pid" ${EXHAUST_FLAGS:-} || status=1
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}

scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(import inflight http errors)
for s in "${scenarios[@]}"; do
  case $s in
    inflight) run inflight QOO10HOOK_SMTP_MAX_MESSAGE_BYTES=16MiB ;;
    *) run "$s" ;;
  esac
done
exit $status
