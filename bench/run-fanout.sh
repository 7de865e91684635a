#!/usr/bin/env bash
# Fan-out benchmark: N viewers, a studio client approves comments at RATE/s;
# against a throw-away Sabla server, then against the Node.js peer.
#
#   bench/run-fanout.sh [SABLA_BINARY] [SABLA_LOAD_BINARY]
#
# Defaults: build/server/sabla and build/bench/sabla-load (builds nothing).
# Environment: CLIENTS (10000), RATES ("5 20"), VOTE_RATE (0; votes per second
# added to every run), SECONDS_PER_RUN (10), PEER (node, or "none").
# stdout: {"server":...} samples, one {"scenario":"fanout",...} line per run,
# {"compare":"fanout",...} per rate; stderr: the tables.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SABLA=${1:-build/server/sabla}
LOAD=${2:-build/bench/sabla-load}
CLIENTS=${CLIENTS:-10000}
RATES=${RATES:-5 20}
VOTE_RATE=${VOTE_RATE:-0}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
[[ -x $LOAD ]] || bench_die "not an executable: $LOAD (build the sabla-load target first)"

echo "run-fanout: $CLIENTS viewers, rates $RATES; load: $(uptime)" >&2
status=0
declare -A cpu p99 delivered
for rate in $RATES; do
  for kind in $(bench_targets); do
    data=$(new_data_dir)
    start_target "$kind" "$SABLA" "$data"
    echo "run-fanout: $kind pid $SERVER_PID on 127.0.0.1:$PORT, $rate approvals/s" >&2
    sample "$kind-before"
    line=$(timeout --signal=INT $((SECONDS_PER_RUN + 180)) "$LOAD" fanout --port "$PORT" --clients "$CLIENTS" \
      --rate "$rate" --vote-rate "$VOTE_RATE" --seconds "$SECONDS_PER_RUN" --token "$TOKEN" \
      --server-pid "$SERVER_PID" --connect-timeout 120) || status=1
    echo "$line" | sed "s/^{/{\"server_kind\":\"$kind\",/"
    sample "$kind-after"
    cpu[$kind]=$(json_field "$line" server_cpu_us_per_delivery)
    p99[$kind]=$(json_field "$line" latency_p99_ms)
    delivered[$kind]=$(json_field "$line" delivered_per_s)
    stop_server
  done
  if [[ -n ${cpu[node]:-} ]]; then
    echo "{\"compare\":\"fanout\",\"rate\":$rate,\"cpu_us_per_delivery\":{\"sabla\":${cpu[sabla]:-null},\"node\":${cpu[node]:-null}},\"latency_p99_ms\":{\"sabla\":${p99[sabla]:-null},\"node\":${p99[node]:-null}},\"node_over_sabla_cpu\":\"$(ratio "${cpu[node]}" "${cpu[sabla]}")\",\"node_over_sabla_p99\":\"$(ratio "${p99[node]}" "${p99[sabla]}")\"}"
    echo "run-fanout: $rate/s: CPU per delivery sabla ${cpu[sabla]:-?} us, node ${cpu[node]} us (node/sabla $(ratio "${cpu[node]}" "${cpu[sabla]}")); p99 sabla ${p99[sabla]:-?} ms, node ${p99[node]} ms" >&2
  fi
  unset cpu p99 delivered
  declare -A cpu p99 delivered
done
exit $status
