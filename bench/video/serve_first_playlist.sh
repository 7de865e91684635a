#!/usr/bin/env bash
# Time from spawning `sabla serve` (default video: the 1280x720@30 test card)
# to the first playable playlist: GET /hls/live.m3u8 answers 200 with a
# segment listed, and that segment answers 200. RUNS times, each on a fresh
# data directory; the server is stopped with SIGTERM after each.
#
#   bench/video/serve_first_playlist.sh [RUNS]        (default 3)
# Env: SABLA (default build/server/sabla), SABLA_VIDEO_SOURCE etc. pass through.
set -euo pipefail
RUNS=${1:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SABLA:-$ROOT/build/server/sabla}
[ -x "$BIN" ] || { echo "sabla not found at $BIN (set SABLA)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }

for run in $(seq 1 "$RUNS"); do
  data=$(mktemp -d /tmp/sabla-serve-bench-XXXXXX)
  log="$data/serve.log"
  t0=$(date +%s.%N)
  "$BIN" serve --port 0 --bind 127.0.0.1 --data "$data" > "$log" 2>&1 &
  pid=$!
  port="" first=""
  for _ in $(seq 1 600); do  # 30 s at most
    [ -z "$port" ] && port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$log" | head -1)
    if [ -n "$port" ]; then
      pl=$(curl -sf "http://127.0.0.1:$port/hls/live.m3u8" || true)
      seg=$(grep -v '^#' <<<"$pl" | grep . | head -1 || true)
      if [ -n "$seg" ] && curl -sf -o /dev/null "http://127.0.0.1:$port/hls/$seg"; then
        first=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
        break
      fi
    fi
    sleep 0.05
  done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "run $run: first playable playlist after ${first:-never} s (load $(cut -d' ' -f1 /proc/loadavg))"
  rm -rf "$data"
done
