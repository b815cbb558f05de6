#!/usr/bin/env bash
# Runs each example receiver (Go, Node.js, Python, PHP) against the real
# service: one order mail in, each receiver verifies the signature and
# processes the event once; a forged signature gets 401; the event sent
# again from the admin API (same webhook-id) is recognised as a duplicate.
# Installs what it needs: php-cli (Debian) and the Node example's npm
# package. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
langs=(go node python php)

if ! command -v php >/dev/null; then
  echo "receivers: installing php-cli (Debian package)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq php-cli >/dev/null
fi
(cd examples/receivers/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "receivers: FAIL: $*" >&2
  for l in "$tmp"/*.log; do echo "--- $l" >&2; tail -n 20 "$l" >&2; done
  exit 1
}
# waitfor SECONDS COMMAND...: until COMMAND succeeds, at most SECONDS.
waitfor() {
  local end=$((SECONDS + $1)); shift
  until "$@" 2>/dev/null; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.1
  done
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

go build -o "$tmp/qoo10hook" ./cmd/qoo10hook
go build -o "$tmp/receiver-go" ./examples/receivers/go

secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
token=receivers-test-admin-token-0123456789
declare -A port
for l in "${langs[@]}"; do
  port[$l]=$(free_port)
  export PORT=${port[$l]} QOO10HOOK_WEBHOOK_SECRET=$secret SEEN_DIR=$tmp/seen
  # exec: the background job is the receiver itself, so that cleanup's
  # kill reaches it rather than a subshell that would leave it running.
  case $l in
    go) exec "$tmp/receiver-go" ;;
    node) exec node examples/receivers/node/receiver.mjs ;;
    python) exec python3 examples/receivers/python/receiver.py ;;
    php) exec php -S "127.0.0.1:$PORT" examples/receivers/php/receiver.php ;;
  esac >"$tmp/$l.log" 2>&1 &
  pids+=($!)
done
unset PORT QOO10HOOK_WEBHOOK_SECRET SEEN_DIR
for l in "${langs[@]}"; do
  waitfor 20 listening "${port[$l]}" || fail "the $l receiver does not listen"
done

smtp=$(free_port) http=$(free_port)
{
  printf 'smtp: {addr: "127.0.0.1:%s"}\n' "$smtp"
  printf 'http: {addr: "127.0.0.1:%s", admin_token: "%s"}\n' "$http" "$token"
  printf 'store: {url: "sqlite:%s/store.db"}\n' "$tmp"
  printf 'sender: {policy: "off"}\n'
  printf 'endpoints:\n'
  for l in "${langs[@]}"; do
    printf '  - {name: %s, url: "http://127.0.0.1:%s/", secret: "%s", events: [order.placed]}\n' "$l" "${port[$l]}" "$secret"
  done
  printf 'routes:\n  - {tenant: examples, recipients: [orders@example.test], endpoints: [go, node, python, php]}\n'
} >"$tmp/qoo10hook.yaml"
env -u QOO10HOOK_CONFIG -u QOO10HOOK_STORE "$tmp/qoo10hook" serve --config "$tmp/qoo10hook.yaml" >"$tmp/qoo10hook.log" 2>&1 &
pids+=($!)
waitfor 30 "$tmp/qoo10hook" healthcheck --config "$tmp/qoo10hook.yaml" >/dev/null || fail "the service is not ready"

python3 - "$smtp" testdata/stockgear-order-utf8.eml <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20) as s:
    s.sendmail("qoo10info@qoo10.jp", ["orders@example.test"], open(sys.argv[2], "rb").read())
PY
for l in "${langs[@]}"; do
  waitfor 20 grep -q "^processed evt_.* order.placed seller shop_e2e cart 710000123" "$tmp/$l.log" ||
    fail "the $l receiver did not process the order"
done

# A forged signature is refused.
now=$(date +%s)
for l in "${langs[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:${port[$l]}/" \
    -H 'Content-Type: application/json' -H 'webhook-id: evt_forged' -H "webhook-timestamp: $now" \
    -H 'webhook-signature: v1,Zm9yZ2VkLXNpZ25hdHVyZS1mb3JnZWQtc2lnbmF0dXJlLQ==' -d '{"id":"evt_forged"}')
  [ "$code" = 401 ] || fail "the $l receiver answered $code to a forged signature, want 401"
done

# Sent again under the same webhook-id: each receiver drops it.
ids=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$http/api/v1/deliveries?status=delivered" |
  python3 -c 'import json, sys; print(" ".join(str(d["id"]) for d in json.load(sys.stdin)["deliveries"]))')
[ "$(wc -w <<<"$ids")" = 4 ] || fail "want 4 delivered deliveries, got: $ids"
for id in $ids; do
  curl -sf -o /dev/null -X POST -H "Authorization: Bearer $token" "http://127.0.0.1:$http/api/v1/deliveries/$id/resend" ||
    fail "resend of delivery $id"
done
for l in "${langs[@]}"; do
  waitfor 20 grep -q "^duplicate evt_" "$tmp/$l.log" || fail "the $l receiver did not see the resent event as a duplicate"
  n=$(grep -c "^processed " "$tmp/$l.log")
  [ "$n" = 1 ] || fail "the $l receiver processed $n events, want 1"
  echo "receivers: $l PASS"
done
