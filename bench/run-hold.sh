#!/usr/bin/env bash
# Holds N idle viewer connections against a throw-away Sabla server, then
# against the Node.js peer, and prints the server RSS growth per connection.
#
#   bench/run-hold.sh [SABLA_BINARY] [SABLA_LOAD_BINARY]
#
# Defaults: build/server/sabla and build/bench/sabla-load (builds nothing).
# Environment: CLIENTS (19000), SECONDS_PER_RUN (10), PEER (node; "none" skips
# the peer; its npm packages are installed on first use).
# stdout: {"server":...} samples and one {"scenario":"hold",...} line per
# server, then {"compare":"hold",...}; stderr: the human-readable tables.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SABLA=${1:-build/server/sabla}
LOAD=${2:-build/bench/sabla-load}
CLIENTS=${CLIENTS:-19000}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
[[ -x $LOAD ]] || bench_die "not an executable: $LOAD (build the sabla-load target first)"

echo "run-hold: $CLIENTS connections; load: $(uptime)" >&2
status=0
declare -A per_conn
for kind in $(bench_targets); do
  data=$(new_data_dir)
  start_target "$kind" "$SABLA" "$data"
  echo "run-hold: $kind pid $SERVER_PID on 127.0.0.1:$PORT" >&2
  sleep 1  # start-up allocations (Sabla hashes nothing here, but the first store writes settle)
  sample "$kind-before"
  line=$(timeout --signal=INT $((SECONDS_PER_RUN + 180)) "$LOAD" hold --port "$PORT" --clients "$CLIENTS" \
    --seconds "$SECONDS_PER_RUN" --server-pid "$SERVER_PID" --connect-timeout 120) || status=1
  echo "$line" | sed "s/^{/{\"server_kind\":\"$kind\",/"
  sample "$kind-after"
  per_conn[$kind]=$(json_field "$line" rss_per_conn_kib)
  stop_server
done
if [[ -n ${per_conn[node]:-} ]]; then
  echo "{\"compare\":\"hold\",\"sabla_kib_per_conn\":${per_conn[sabla]:-null},\"node_kib_per_conn\":${per_conn[node]:-null},\"node_over_sabla\":\"$(ratio "${per_conn[node]}" "${per_conn[sabla]}")\"}"
  echo "run-hold: RSS per connection: sabla ${per_conn[sabla]:-?} KiB, node ${per_conn[node]} KiB (node/sabla $(ratio "${per_conn[node]}" "${per_conn[sabla]}"))" >&2
fi
exit $status
