#!/usr/bin/env bash
# Ingest benchmark: accepted mails/s of qoo10hook and of Postfix (a private
# instance, queue on the same disk, discard transport), both fed by
# Postfix's smtp-source in the same run; prints the ratio.
#
#   scripts/bench-ingest.sh [SESSIONS] [MAILS] [SIZE] [STORE] [ROUNDS]   (default 20 5000 4096 sqlite 3)
#
# Each round runs both sides once; the ratio printed last is that of the
# medians over the rounds (one run of each varies by 10 % and more here).
# STORE is sqlite (a file in a temporary directory) or a postgres:// URL of
# an empty database or schema (e.g. ...?search_path=bench).
#
# Needs root (for Postfix) and the postfix package (apt-get install postfix).
# DELIVER=1 points qoo10hook at a local receiver (examples/receivers/go,
# which verifies each signature and answers at once), so that it delivers
# (a mail.unrecognized event per mail) while it takes mail.
# QOO10HOOK_BIN=path runs that build of qoo10hook instead of this tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
sessions=${1:-20} mails=${2:-5000} size=${3:-4096} store=${4:-sqlite} rounds=${5:-3}
command -v smtp-source >/dev/null || { echo "smtp-source missing: apt-get install postfix" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/var/tmp}/qoo10hook-bench.XXXXXX")
chmod 755 "$work"
# Ports the kernel has free now, not ones drawn at random: an outgoing
# connection of an earlier run may hold a random one.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pf_port=$(free_port) qh_port=$(free_port) http_port=$(free_port)
cleanup() {
  [ -n "${hook_pid:-}" ] && kill "$hook_pid" 2>/dev/null || true
  [ -n "${qh_pid:-}" ] && kill "$qh_pid" 2>/dev/null && wait "$qh_pid" 2>/dev/null || true
  postfix -c "$work/postfix" stop >/dev/null 2>&1 || true
  [ -f "$work/postfix-start.log" ] && [ -n "${debug:-}" ] && cat "$work/postfix-start.log" >&2
  rm -rf "$work"
}
trap cleanup EXIT

# A private Postfix: its own config, queue and data directories under $work.
mkdir -p "$work/postfix" "$work/pfqueue" "$work/pfdata"
cp /etc/postfix/master.cf "$work/postfix/master.cf"
sed -i "s/^smtp \+inet .*/127.0.0.1:$pf_port inet n - y - - smtpd/" "$work/postfix/master.cf"
cat > "$work/postfix/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $work/pfqueue
data_directory = $work/pfdata
myhostname = bench.localdomain
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject
default_transport = discard
relay_transport = discard
local_transport = discard
smtpd_client_connection_rate_limit = 0
default_process_limit = 200
maillog_file = /dev/stdout
CF
chown postfix "$work/pfdata"
postfix -c "$work/postfix" check
postfix -c "$work/postfix" start >"$work/postfix-start.log" 2>&1
# A first start after the package's installation can take several seconds.
for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$pf_port) 2>/dev/null && break; sleep 0.1; done
if ! (exec 3<>/dev/tcp/127.0.0.1/$pf_port) 2>/dev/null; then
  echo "Postfix did not start listening on port $pf_port:" >&2; cat "$work/postfix-start.log" >&2; exit 1
fi

hook=()
if [ -n "${DELIVER:-}" ]; then
  # A receiver that cannot listen would turn every webhook into a retry.
  hook_port=$(free_port)
  go build -o "$work/receiver" ./examples/receivers/go
  PORT=$hook_port QOO10HOOK_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw "$work/receiver" >"$work/receiver.log" 2>&1 &
  hook_pid=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$hook_port) 2>/dev/null && break; sleep 0.1; done
  if ! (exec 3<>/dev/tcp/127.0.0.1/$hook_port) 2>/dev/null; then
    echo "the receiver did not start on port $hook_port:" >&2; cat "$work/receiver.log" >&2; exit 1
  fi
  hook=(QOO10HOOK_WEBHOOK_URL=http://127.0.0.1:$hook_port/hook QOO10HOOK_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw)
fi
if [ -n "${QOO10HOOK_BIN:-}" ]; then cp "$QOO10HOOK_BIN" "$work/qoo10hook"; else go build -o "$work/qoo10hook" ./cmd/qoo10hook; fi
env "${hook[@]}" QOO10HOOK_SMTP_ADDR=127.0.0.1:$qh_port QOO10HOOK_HTTP_ADDR=127.0.0.1:$http_port \
QOO10HOOK_STORE=$([ "$store" = sqlite ] && echo "sqlite:$work/store.db" || echo "$store") QOO10HOOK_DOMAINS=in.example.test \
QOO10HOOK_SENDER_POLICY=off QOO10HOOK_SMTP_MAX_CONNECTIONS_PER_IP=1000 QOO10HOOK_SMTP_MAX_TRANSACTIONS_PER_MINUTE=10000000 QOO10HOOK_LOG_LEVEL=warn \
  "$work/qoo10hook" serve >"$work/qoo10hook.log" 2>&1 &
qh_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$http_port/readyz" >/dev/null && break; sleep 0.1; done
if ! curl -fs "http://127.0.0.1:$http_port/readyz" >/dev/null; then
  echo "qoo10hook did not get ready in 10 s:" >&2; cat "$work/qoo10hook.log" >&2; exit 1
fi

# queued counts the mails Postfix has accepted and not yet delivered.
queued() { find "$work/pfqueue/maildrop" "$work/pfqueue/incoming" "$work/pfqueue/active" "$work/pfqueue/deferred" -type f 2>/dev/null | wc -l; }
rate() { # port -> mails/s
  local start end
  # Each side starts on a quiet machine: Postfix goes on delivering (to
  # discard) what it accepted after smtp-source is done, and that work
  # must not fall into the next side's run; nor the other side's
  # writeback (sync).
  for _ in $(seq 600); do [ "$(queued)" = 0 ] && break; sleep 0.1; done
  sync
  start=$(date +%s.%N)
  if ! smtp-source -s "$sessions" -m "$mails" -l "$size" -f sender@bench.example -t orders@in.example.test "127.0.0.1:$1"; then
    if [ "$1" = "$pf_port" ]; then echo "smtp-source failed against Postfix:" >&2; cat "$work/postfix-start.log" >&2
    else echo "smtp-source failed against qoo10hook:" >&2; cat "$work/qoo10hook.log" >&2; fi
    return 1
  fi
  end=$(date +%s.%N)
  echo "$mails / ($end - $start)" | bc -l
}
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# Rounds alternate which side goes first, so that a drift of the machine
# weighs on both; the ratio is that of the two sides' medians.
# delivered counts the webhooks qoo10hook has delivered so far.
delivered() {
  curl -fs "http://127.0.0.1:$http_port/metrics" |
    awk '$1 ~ /^qoo10hook_webhook_deliveries_total/ && /outcome="delivered"/ {n += $2} END {print n + 0}'
}
pfs=() qhs=()
for round in $(seq "$rounds"); do
  if [ $((round % 2)) = 1 ]; then
    pf=$(rate "$pf_port"); qh=$(rate "$qh_port"); dl=$(delivered)
  else
    qh=$(rate "$qh_port"); dl=$(delivered); pf=$(rate "$pf_port")
  fi
  pfs+=("$pf") qhs+=("$qh")
  printf 'round %d: postfix %6.0f mails/s, qoo10hook %6.0f mails/s, ratio %.2f' "$round" "$pf" "$qh" "$(echo "$qh / $pf" | bc -l)"
  # With DELIVER, how far delivery kept up: webhooks delivered when
  # qoo10hook's side of the round ended, of its mails accepted so far.
  [ -n "${DELIVER:-}" ] && printf '; %d of %d webhooks delivered as its side ended' "$dl" "$((mails * round))"
  echo
done
pf=$(printf '%s\n' "${pfs[@]}" | median) qh=$(printf '%s\n' "${qhs[@]}" | median)

metrics=$(curl -fs "http://127.0.0.1:$http_port/metrics")
stored=$(awk '$1 ~ /^qoo10hook_smtp_transactions_total/ && /outcome="accepted"/ {print $2}' <<<"$metrics")
dups=$(awk '$1 ~ /^qoo10hook_duplicates_total/ {n += $2} END {print n + 0}' <<<"$metrics")
printf 'postfix   %8.0f mails/s (median of %d)\nqoo10hook %8.0f mails/s (median of %d; %s accepted, %s duplicates)\nratio     %8.2f\n' \
  "$pf" "$rounds" "$qh" "$rounds" "${stored:-?}" "$dups" "$(echo "$qh / $pf" | bc -l)"
if [ "${stored:-0}" != "$((mails * rounds))" ] || [ "$dups" != 0 ]; then
  echo "qoo10hook accepted ${stored:-0} of $((mails * rounds)) mails, $dups as duplicates: the figures above do not count" >&2
  exit 1
fi
