#!/usr/bin/env bash
# Checks the deployment files offline: the compose file with Compose
# (Debian's docker-compose, installed if missing; no Docker engine needed)
# and the systemd unit with systemd-analyze verify (any warning fails).
# Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

if ! command -v docker-compose >/dev/null; then
  echo "deploy: installing docker-compose (Debian package)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
fi
POSTGRES_PASSWORD=check QOO10HOOK_DOMAINS=in.example.com docker-compose -p qoo10hook -f deploy/compose.yaml config -q
echo "deploy: compose.yaml is valid"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# verify wants ExecStart's binary: the one built here stands in for
# /usr/local/bin/qoo10hook.
go build -o "$tmp/qoo10hook" ./cmd/qoo10hook
sed "s|/usr/local/bin/qoo10hook|$tmp/qoo10hook|g" deploy/systemd/qoo10hook.service >"$tmp/qoo10hook.service"
out=$(systemd-analyze verify "$tmp/qoo10hook.service" 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then
  echo "systemd-analyze verify: $out"
  exit 1
fi
echo "deploy: qoo10hook.service verifies"
