#!/usr/bin/env bash
# Server CPU per ingested comment, in figures that a busy shared box does not
# move much: the server's own user+system CPU time (/proc/PID/stat) divided by
# the comments it acked, and optionally instructions per comment counted by
# callgrind (this VM has no hardware counters for `perf stat`).
#
#   bench/cpu-per-comment.sh [SABLA_BINARY] [SABLA_LOAD_BINARY]
#
# Environment: CLIENTS (200), SECONDS_PER_RUN (10), RATE (0 = unpaced, W = 8),
# CALLGRIND (0; 1 runs `sabla serve` under valgrind --tool=callgrind, zeroes
# the counts when the server is up and dumps them after the ingest run, so
# start-up is not counted; then CLIENTS 50 and
# SECONDS_PER_RUN 20 by default, since the server runs ~50x slower).
# stdout: the sabla-load line, then one {"cpu_per_comment":...} line.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SABLA=$(realpath "${1:-build/server/sabla}")
LOAD=${2:-build/bench/sabla-load}
CALLGRIND=${CALLGRIND:-0}
if [[ $CALLGRIND == 1 ]]; then
  CLIENTS=${CLIENTS:-50}
  SECONDS_PER_RUN=${SECONDS_PER_RUN:-20}
else
  CLIENTS=${CLIENTS:-200}
  SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
fi
RATE=${RATE:-0}
[[ -x $LOAD ]] || bench_die "not an executable: $LOAD (build the sabla-load target first)"

data=$(new_data_dir)
binary=$SABLA
if [[ $CALLGRIND == 1 ]]; then
  command -v valgrind >/dev/null || bench_die "valgrind is not installed"
  binary=$data/sabla-under-callgrind
  cat >"$binary" <<WRAP
#!/bin/sh
[ "\$1" = serve ] && exec valgrind --tool=callgrind --callgrind-out-file="$data/callgrind.out" "$SABLA" "\$@"
exec "$SABLA" "\$@"
WRAP
  chmod +x "$binary"
fi
echo "cpu-per-comment: load: $(uptime)" >&2
start_sabla "$binary" "$data"
cpu_s() {
  local stat rest f
  stat=$(<"/proc/$SERVER_PID/stat")
  rest=${stat##*) }
  read -r -a f <<<"$rest"
  awk -v ut="${f[11]}" -v st="${f[12]}" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f %.3f", ut / hz, st / hz }'
}
[[ $CALLGRIND == 1 ]] && callgrind_control --zero "$SERVER_PID" >/dev/null
before=$(cpu_s)
line=$(timeout --signal=INT $((SECONDS_PER_RUN + 120)) \
  "$LOAD" ingest --port "$PORT" --host 127.0.0.1 --clients "$CLIENTS" --rate "$RATE" \
  --seconds "$SECONDS_PER_RUN" --drain-seconds 30 --connect-timeout 120 --db "$data/sabla.db") || true
after=$(cpu_s)
echo "$line"
acked=$(json_field "$line" acked)
[[ -n $acked && $acked != 0 ]] || bench_die "no comments acked"
ir=null
if [[ $CALLGRIND == 1 ]]; then
  callgrind_control --dump=ingest "$SERVER_PID" >/dev/null
  dump=$(ls -t "$data"/callgrind.out.* 2>/dev/null | head -n 1)
  [[ -n $dump ]] || bench_die "no callgrind dump"
  ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
  [[ -n $ir ]] || bench_die "no callgrind totals"
  if [[ -n ${KEEP_PROFILE:-} ]]; then cp "$dump" "$KEEP_PROFILE"; fi
fi
read -r bu bs <<<"$before"
read -r au as <<<"$after"
awk -v bu="$bu" -v bs="$bs" -v au="$au" -v as="$as" -v n="$acked" -v ir="$ir" -v cg="$CALLGRIND" -v c="$CLIENTS" \
    -v r="$RATE" -v secs="$SECONDS_PER_RUN" 'BEGIN {
  u = au - bu; s = as - bs
  printf "{\"cpu_per_comment\":true,\"clients\":%d,\"rate\":%d,\"callgrind\":%s,\"acked\":%d,\"acked_per_s\":%.0f,\"server_user_s\":%.3f,\"server_sys_s\":%.3f,\"us_per_comment\":%s,\"user_us_per_comment\":%s,\"instructions_per_comment\":%s}\n",
    c, r, cg == 1 ? "true" : "false", n, n / secs, u, s, cg == 1 ? "null" : sprintf("%.1f", (u + s) * 1e6 / n),
    cg == 1 ? "null" : sprintf("%.1f", u * 1e6 / n), ir == "null" ? "null" : sprintf("%.0f", ir / n) }'
