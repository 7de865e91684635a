#!/usr/bin/env bash
# Runs the ingest benchmark against a throw-away Sabla server on loopback,
# then against the Node.js peer, and prints the ratios.
#
#   bench/run-ingest.sh [SABLA_BINARY] [SABLA_LOAD_BINARY]
#
# Defaults: build/server/sabla and build/bench/sabla-load (builds nothing).
# Environment: CLIENTS (200), SECONDS_PER_RUN (10), PACED_RATE (2000),
# PEER (node; "none" runs Sabla only).
#
# For each server: a fresh data directory, then
#   1. sabla-load ingest --clients 200 --rate 0    --seconds 10 --db DIR/sabla.db
#   2. sabla-load ingest --clients 200 --rate 2000 --seconds 10 --db DIR/sabla.db
# stdout: one JSON line per server sample ({"server":...}) and per run
# ({"scenario":"ingest",...}), then {"compare":"ingest",...}; stderr: tables.
# Exits non-zero if a server does not start or a run fails.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SABLA=${1:-build/server/sabla}
LOAD=${2:-build/bench/sabla-load}
CLIENTS=${CLIENTS:-200}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
PACED_RATE=${PACED_RATE:-2000}
[[ -x $LOAD ]] || bench_die "not an executable: $LOAD (build the sabla-load target first)"

run() {
  local rate=$1 data=$2 kind=$3 line rc=0
  line=$(timeout --signal=INT $((SECONDS_PER_RUN + 60)) \
    "$LOAD" ingest --port "$PORT" --host 127.0.0.1 --clients "$CLIENTS" --rate "$rate" \
    --seconds "$SECONDS_PER_RUN" --db "$data/sabla.db") || rc=1
  LAST=$line
  echo "$line" | sed "s/^{/{\"server_kind\":\"$kind\",/"
  return $rc
}

echo "run-ingest: load: $(uptime)" >&2
status=0
declare -A unpaced paced_p99
for kind in $(bench_targets); do
  data=$(new_data_dir)
  start_target "$kind" "$SABLA" "$data"
  echo "run-ingest: $kind pid $SERVER_PID on 127.0.0.1:$PORT, data $data" >&2
  sample "$kind-before"
  run 0 "$data" "$kind" || status=1
  unpaced[$kind]=$(json_field "$LAST" acked_per_s)
  sample "$kind-after-unpaced"
  run "$PACED_RATE" "$data" "$kind" || status=1
  paced_p99[$kind]=$(json_field "$LAST" ack_p99_ms)
  sample "$kind-after-paced"
  if [[ -s $data/server.err ]]; then
    echo "run-ingest: $kind stderr (last lines):" >&2
    tail -n 20 "$data/server.err" >&2
  fi
  stop_server
done
if [[ -n ${unpaced[node]:-} ]]; then
  echo "{\"compare\":\"ingest\",\"acked_per_s\":{\"sabla\":${unpaced[sabla]:-null},\"node\":${unpaced[node]}},\"sabla_over_node\":\"$(ratio "${unpaced[sabla]}" "${unpaced[node]}")\",\"paced_ack_p99_ms\":{\"sabla\":${paced_p99[sabla]:-null},\"node\":${paced_p99[node]:-null}}}"
  echo "run-ingest: unpaced acked/s sabla ${unpaced[sabla]:-?}, node ${unpaced[node]} (sabla/node $(ratio "${unpaced[sabla]}" "${unpaced[node]}")); paced p99 sabla ${paced_p99[sabla]:-?} ms, node ${paced_p99[node]:-?} ms" >&2
fi
exit $status
