#!/usr/bin/env bash
# Runs the ingest benchmark against a throw-away server on loopback.
#
#   bench/run-ingest.sh [SABLA_BINARY] [SABLA_LOAD_BINARY]
#
# Defaults: build/server/sabla and build/bench/sabla-load (builds nothing).
# Environment: CLIENTS (200), SECONDS_PER_RUN (10), PACED_RATE (2000).
#
# Starts `sabla serve --port 0 --bind 127.0.0.1` on a fresh data directory
# with the per-viewer rate limits lifted, then runs
#   1. sabla-load ingest --clients 200 --rate 0    --seconds 10 --db DIR/sabla.db
#   2. sabla-load ingest --clients 200 --rate 2000 --seconds 10 --db DIR/sabla.db
# stdout: one JSON line per server sample ({"server":...}) and per run
# ({"scenario":"ingest",...}); stderr: the human-readable tables.
# Exits non-zero if the server does not start or either run fails.
set -euo pipefail

SABLA=${1:-build/server/sabla}
LOAD=${2:-build/bench/sabla-load}
CLIENTS=${CLIENTS:-200}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
PACED_RATE=${PACED_RATE:-2000}

die() { echo "run-ingest: $*" >&2; exit 2; }
[[ -x $SABLA ]] || die "not an executable: $SABLA (build the sabla target first)"
[[ -x $LOAD ]] || die "not an executable: $LOAD (build the sabla-load target first)"

DATA=$(mktemp -d "${TMPDIR:-/tmp}/sabla-bench.XXXXXX")
PID=""
cleanup() {
  if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  rm -rf "$DATA"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SABLA_COMMENTS_PER_SECOND=1000000 SABLA_COMMENT_BURST=1000000 SABLA_MAX_CONNECTIONS_PER_IP=100000 \
  SABLA_LOG_LEVEL=warn SABLA_VIDEO_SOURCE="${SABLA_VIDEO_SOURCE:-off}" \
  "$SABLA" serve --port 0 --bind 127.0.0.1 --data "$DATA" >"$DATA/server.out" 2>"$DATA/server.err" &
PID=$!

PORT=""
for _ in $(seq 150); do  # up to 15 s
  PORT=$(sed -n 's#^listening on http://127\.0\.0\.1:\([0-9][0-9]*\)$#\1#p' "$DATA/server.out")
  [[ -n $PORT ]] && break
  if ! kill -0 "$PID" 2>/dev/null; then
    cat "$DATA/server.err" >&2
    die "the server exited before listening"
  fi
  sleep 0.1
done
[[ -n $PORT ]] || { cat "$DATA/server.err" >&2; die "no 'listening on' line from the server within 15 s"; }

TICKS=$(getconf CLK_TCK)

# One JSON line: the server's RSS (VmRSS, VmHWM) and CPU time (utime+stime
# from /proc/PID/stat), plus the store counters from /metrics when curl exists.
sample() {
  local label=$1 stat rest utime stime rss hwm threads metrics="" tx="null" ops="null" commit_max="null"
  stat=$(<"/proc/$PID/stat")
  rest=${stat##*) }  # the command name may hold spaces; fields restart after ") "
  read -r -a f <<<"$rest"
  utime=${f[11]} stime=${f[12]}  # fields 14 and 15 of stat, 0-based after field 2
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status")
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$PID/status")
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$PID/status")
  if command -v curl >/dev/null; then
    metrics=$(curl -s --max-time 2 "http://127.0.0.1:$PORT/metrics" || true)
    tx=$(awk '$1 == "sabla_store_transactions_total" {print $2}' <<<"$metrics")
    ops=$(awk '$1 == "sabla_store_operations_total" {print $2}' <<<"$metrics")
    commit_max=$(awk '$1 == "sabla_store_commit_seconds_max" {print $2}' <<<"$metrics")
  fi
  awk -v label="$label" -v ut="$utime" -v st="$stime" -v hz="$TICKS" -v rss="$rss" -v hwm="$hwm" \
    -v th="$threads" -v tx="${tx:-null}" -v ops="${ops:-null}" -v cm="${commit_max:-null}" 'BEGIN {
      printf "{\"server\":\"%s\",\"rss_kib\":%d,\"rss_peak_kib\":%d,\"threads\":%d,\"cpu_user_s\":%.2f,\"cpu_sys_s\":%.2f,\"cpu_s\":%.2f,\"store_transactions\":%s,\"store_operations\":%s,\"store_commit_max_s\":%s}\n",
        label, rss, hwm, th, ut / hz, st / hz, (ut + st) / hz, tx, ops, cm
    }'
}

run() {
  local rate=$1
  timeout --signal=INT $((SECONDS_PER_RUN + 60)) \
    "$LOAD" ingest --port "$PORT" --host 127.0.0.1 --clients "$CLIENTS" --rate "$rate" \
    --seconds "$SECONDS_PER_RUN" --db "$DATA/sabla.db"
}

echo "run-ingest: server pid $PID on 127.0.0.1:$PORT, data $DATA; load: $(uptime)" >&2
status=0
sample before
run 0 || status=1
sample after-unpaced
run "$PACED_RATE" || status=1
sample after-paced
if [[ -s $DATA/server.err ]]; then
  echo "run-ingest: server stderr (last lines):" >&2
  tail -n 20 "$DATA/server.err" >&2
fi
exit $status
