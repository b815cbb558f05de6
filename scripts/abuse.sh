#!/usr/bin/env bash
# Attack a freshly built qoo10hook the way an MX gets attacked: 1,000 idle
# connections from one client, 1,000 spread over 100 clients, a slowloris
# DATA and a slowloris command, and one normal mail that must still get
# 250. Reports accepted/refused connections, the time to 250 and the
# server's peak RSS (VmHWM), which must stay under 150 MiB.
#
# Usage: scripts/abuse.sh [extra flags for internal/tools/abuse]
# Extra environment (QOO10HOOK_*) is passed to the service; it runs with the
# default limits (50 connections per client, 2,000 in total) unless told
# otherwise, e.g. QOO10HOOK_SMTP_MAX_CONNECTIONS=6000 scripts/abuse.sh -spread 5000.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d /tmp/qoo10hook-abuse.XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT

go build -o "$tmp/qoo10hook" ./cmd/qoo10hook
go build -o "$tmp/abuse" ./internal/tools/abuse

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
smtp_port=$(free_port)
http_port=$(free_port)

QOO10HOOK_SMTP_ADDR="127.0.0.1:$smtp_port" \
QOO10HOOK_HTTP_ADDR="127.0.0.1:$http_port" \
QOO10HOOK_STORE="sqlite:$tmp/store.db" \
QOO10HOOK_DOMAINS=in.example.test \
QOO10HOOK_SENDER_POLICY="${QOO10HOOK_SENDER_POLICY:-off}" \
QOO10HOOK_LOG_LEVEL="${QOO10HOOK_LOG_LEVEL:-warn}" \
  "$tmp/qoo10hook" serve >"$tmp/service.log" 2>&1 &
pid=$!

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

status=0
"$tmp/abuse" -addr "127.0.0.1:$smtp_port" -pid "$pid" -metrics "http://127.0.0.1:$http_port/metrics" "$@" || status=$?
exit $status
