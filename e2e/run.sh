#!/usr/bin/env bash
# Browser test of the admin console: builds qoo10hook, installs what the test
# needs (Debian's chromium, playwright-core from npm; never a downloaded browser),
# and runs the Go driver, which starts the service and the Playwright script.
# Run from anywhere; screenshots and the service log go to $E2E_OUT (default: a
# temporary directory, named on failure).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

if [ ! -x /usr/bin/chromium ]; then
  echo "e2e: installing chromium (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
# A Japanese font, so that what the screenshots show is legible.
if ! dpkg -s fonts-ipafont-gothic >/dev/null 2>&1; then
  echo "e2e: installing fonts-ipafont-gothic (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq fonts-ipafont-gothic >/dev/null
fi
command -v node >/dev/null || { echo "e2e: node is not installed" >&2; exit 1; }
(cd e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/qoo10hook" ./cmd/qoo10hook
go run ./e2e/driver -bin "$tmp/qoo10hook" -script e2e/console.mjs -root . ${E2E_OUT:+-out "$E2E_OUT"}
