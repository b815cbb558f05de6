#!/usr/bin/env bash
# End-to-end benchmark: qoo10hook in its default configuration (stock
# adjustments on), fed rendered Qoo10 mails by qoo10hook-load over 20 SMTP
# sessions, delivering signed webhooks back to it. Prints, from the load
# tool: accepted mails/s, the SMTP transaction time, order events
# delivered/s and their ratio to accepted/s, the time from 250 to the
# order's webhook, the stock adjustments delivered, the load tool's own CPU
# time; and the service's peak RSS and CPU time, on PostgreSQL the server's
# CPU time when it runs on this machine, and that CPU over the load tool's.
#
#   scripts/bench-e2e.sh [RATE] [MAILS] [STORE] [SKUS]
#     RATE   mails/s offered, 0 for as fast as accepted (default 100)
#     MAILS  how many (default 3000)
#     STORE  sqlite (default) or a postgres:// URL (the run gets a fresh
#            schema, qoo10hook_bench, dropped and created again)
#     SKUS   many (default) or hot: every order of one SKU, a flash sale
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-100} mails=${2:-3000} storearg=${3:-sqlite} skus=${4:-many}
case $skus in many) hot=false ;; hot) hot=true ;; *) echo "SKUS must be many or hot" >&2; exit 2 ;; esac
work=$(mktemp -d "${TMPDIR:-/var/tmp}/qoo10hook-e2e.XXXXXX")
secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw token=bench-e2e-admin-token-0123456789abcdef
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
smtp=$(port) http=$(port) hook=$(port)
store="sqlite:$work/store.db"
if [ "$storearg" != sqlite ]; then
  PGOPTIONS=--client-min-messages=warning psql -q "$storearg" -c 'DROP SCHEMA IF EXISTS qoo10hook_bench CASCADE' -c 'CREATE SCHEMA qoo10hook_bench'
  case $storearg in *\?*) store="$storearg&search_path=qoo10hook_bench" ;; *) store="$storearg?search_path=qoo10hook_bench" ;; esac
fi
# pgcpu prints the CPU seconds PostgreSQL's processes have used, when the
# server runs on this machine and its files can be read (as root): the live
# processes' own, and those of the postmaster's children that have exited
# (a backend ends with its connection).
pgcpu() {
  local dir pm
  dir=$(psql -Atq "$storearg" -c 'SHOW data_directory' 2>/dev/null) &&
    pm=$(head -1 "$dir/postmaster.pid" 2>/dev/null) && [ -r "/proc/$pm/stat" ] || return 0
  { cat "/proc/$pm/stat"; for c in $(pgrep -P "$pm"); do cat "/proc/$c/stat" 2>/dev/null; done; } |
    awk -v pm="$pm" -v hz="$(getconf CLK_TCK)" '{ t += $14 + $15; if ($1 == pm) t += $16 + $17 } END { printf "%.3f", t / hz }'
}
pg_before=
[ "$storearg" != sqlite ] && pg_before=$(pgcpu)
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; [ -n "${BENCH_KEEP:-}" ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT

# QOO10HOOK_BIN runs another build (main, to compare).
if [ -n "${QOO10HOOK_BIN:-}" ]; then cp "$QOO10HOOK_BIN" "$work/qoo10hook"; else go build -o "$work/qoo10hook" ./cmd/qoo10hook; fi
go build -o "$work/qoo10hook-load" ./cmd/qoo10hook-load
QOO10HOOK_SMTP_ADDR=127.0.0.1:$smtp QOO10HOOK_HTTP_ADDR=127.0.0.1:$http QOO10HOOK_STORE=$store \
QOO10HOOK_DOMAINS=localhost QOO10HOOK_WEBHOOK_URL=http://127.0.0.1:$hook/hook QOO10HOOK_WEBHOOK_SECRET=$secret \
QOO10HOOK_ADMIN_TOKEN=$token QOO10HOOK_SENDER_POLICY=off QOO10HOOK_SMTP_MAX_CONNECTIONS_PER_IP=1000 QOO10HOOK_SMTP_MAX_TRANSACTIONS_PER_MINUTE=10000000 QOO10HOOK_LOG_LEVEL=warn \
  "$work/qoo10hook" serve >"$work/service.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$http/readyz" >/dev/null && break; sleep 0.1; done

# PROFILE=file takes a CPU profile of the service's first 10 s under load;
# LOAD_PROFILE=file one of the load tool over its run.
if [ -n "${PROFILE:-}" ]; then
  curl -fs -H "Authorization: Bearer $token" -o "$PROFILE" "http://127.0.0.1:$http/admin/debug/pprof/profile?seconds=10" &
fi
# A failed run (mails refused, webhooks missing or posted twice) still
# prints the service's figures below, then exits with the load tool's status.
status=0
"$work/qoo10hook-load" -addr 127.0.0.1:$smtp -rcpt orders@localhost -mails "$mails" -rate "$rate" \
  -hook 127.0.0.1:$hook -secret $secret -sessions 20 -hot-sku=$hot ${LOAD_PROFILE:+-cpuprofile "$LOAD_PROFILE"} |
  tee "$work/load.out" || status=$?
echo "peak RSS $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' /proc/$pid/status)"
# The service's CPU time (user and system, from /proc) over the run: per
# mail it is steadier from run to run than the rates, which share the two
# cores with the load tool.
service_cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$pid/stat")
awk -v s="$service_cpu" -v mails="$mails" 'BEGIN {printf "service CPU %.2f s, %.0f µs per mail\n", s, s * 1e6 / mails}'
# On PostgreSQL the server's CPU over the run too, and the sum of the
# two per mail over the load tool's: the machine's speed moves from run to
# run, and the load tool, doing the same work each time, measures it.
load_cpu=$(awk '/^load tool CPU/ {print $4}' "$work/load.out")
pg_cpu=
if [ -n "$pg_before" ]; then
  pg_cpu=$(awk -v a="$pg_before" -v b="$(pgcpu)" 'BEGIN {printf "%.3f", b - a}')
  awk -v p="$pg_cpu" -v mails="$mails" 'BEGIN {printf "postgres CPU %.2f s, %.0f µs per mail\n", p, p * 1e6 / mails}'
fi
[ -n "$load_cpu" ] && awk -v s="$service_cpu" -v p="${pg_cpu:-0}" -v l="$load_cpu" -v pg="$pg_cpu" \
  'BEGIN {if (l > 0) printf "service%s CPU over the load tool'"'"'s: %.2f\n", (pg != "" ? " + postgres" : ""), (s + p) / l}'
exit "$status"
