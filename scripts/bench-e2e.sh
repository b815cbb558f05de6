#!/usr/bin/env bash
# End-to-end benchmark: qoo10hook on its embedded store, fed rendered Qoo10
# mails by qoo10hook-load, delivering signed webhooks back to it. Prints,
# from the load tool: accepted mails/s, the SMTP transaction time, delivered
# events/s and the time from 250 to the webhook; and the service's peak RSS.
#
#   scripts/bench-e2e.sh [RATE] [MAILS] [STORE]
#     RATE   mails/s offered, 0 for as fast as accepted (default 100)
#     MAILS  how many (default 3000)
#     STORE  sqlite (default) or a postgres:// URL
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-100} mails=${2:-3000} storearg=${3:-sqlite}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/qoo10hook-e2e.XXXXXX")
secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
smtp=$(port) http=$(port) hook=$(port)
store="sqlite:$work/store.db"
[ "$storearg" != sqlite ] && store=$storearg
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/qoo10hook" ./cmd/qoo10hook
go build -o "$work/qoo10hook-load" ./cmd/qoo10hook-load
QOO10HOOK_SMTP_ADDR=127.0.0.1:$smtp QOO10HOOK_HTTP_ADDR=127.0.0.1:$http QOO10HOOK_STORE=$store \
QOO10HOOK_DOMAINS=localhost QOO10HOOK_WEBHOOK_URL=http://127.0.0.1:$hook/hook QOO10HOOK_WEBHOOK_SECRET=$secret \
QOO10HOOK_SENDER_POLICY=off QOO10HOOK_SMTP_MAX_CONNECTIONS_PER_IP=1000 QOO10HOOK_SMTP_MAX_TRANSACTIONS_PER_MINUTE=10000000 QOO10HOOK_INVENTORY_RESERVE_ON=none QOO10HOOK_LOG_LEVEL=warn \
  "$work/qoo10hook" serve >"$work/service.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$http/readyz" >/dev/null && break; sleep 0.1; done

"$work/qoo10hook-load" -addr 127.0.0.1:$smtp -rcpt orders@localhost -mails "$mails" -rate "$rate" \
  -hook 127.0.0.1:$hook -secret $secret
echo "peak RSS $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' /proc/$pid/status)"
