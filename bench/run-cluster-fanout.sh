#!/usr/bin/env bash
# Fan-out across a cluster (docs/cluster.md): Redis, a main node and EDGES
# edge nodes on this machine; N viewers spread over the edges, a studio on
# the main approves at RATE/s. Then the same load against the one process,
# side by side.
#
#   bench/run-cluster-fanout.sh [SABLA_BINARY] [SABLA_LOAD_BINARY]
#
# Defaults: build/server/sabla and build/bench/sabla-load (builds nothing).
# Environment: CLIENTS (10000), RATES ("5 20"), EDGES (2), SECONDS_PER_RUN (10).
# stdout: one {"scenario":"fanout",...} line per run (server_kind "single" or
# "cluster"), one {"compare":"cluster-fanout",...} line per rate; stderr: the tables.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SABLA=${1:-build/server/sabla}
LOAD=${2:-build/bench/sabla-load}
CLIENTS=${CLIENTS:-10000}
RATES=${RATES:-5 20}
EDGES=${EDGES:-2}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
[[ -x $LOAD ]] || bench_die "not an executable: $LOAD (build the sabla-load target first)"
command -v node >/dev/null || bench_die "node is needed to summarise the runs (scripts/setup installs it)"

# summary SINGLE_LINE CLUSTER_LINE RATE EDGE_PORTS REDIS_PID: the compare line.
summary() {
  node -e '
    const [single, cluster] = [JSON.parse(process.argv[1]), JSON.parse(process.argv[2])];
    const rate = Number(process.argv[3]), edgePorts = process.argv[4].split(","), redisPid = Number(process.argv[5]);
    const byPid = Object.fromEntries((cluster.nodes || []).map((n) => [n.pid, n]));
    const edges = edgePorts.map((port, i) => {
      const n = cluster.nodes[1 + i], delivered = (cluster.delivered_by_port || {})[port] || 0;
      return { port: Number(port), cpu_s: n.cpu_s, cpu_us_per_delivery: delivered ? +(n.cpu_s * 1e6 / delivered).toFixed(2) : null };
    });
    const r = (a, b) => (a && b ? +(a / b).toFixed(2) : null);
    const out = {
      compare: "cluster-fanout", rate, clients: cluster.clients, edges: edges.length,
      latency_p99_ms: { single: single.latency_p99_ms, cluster: cluster.latency_p99_ms },
      lost: { single: single.lost, cluster: cluster.lost },
      cpu_us_per_delivery: { single: single.server_cpu_us_per_delivery, cluster_all_processes: cluster.cluster_cpu_us_per_delivery, edges },
      main_cpu_s: cluster.nodes[0].cpu_s, redis_cpu_s: byPid[redisPid].cpu_s,
      redis_cpu_us_per_approval: cluster.approved ? +(byPid[redisPid].cpu_s * 1e6 / cluster.approved).toFixed(1) : null,
      cluster_over_single_p99: r(cluster.latency_p99_ms, single.latency_p99_ms),
      edge_over_single_cpu: edges.map((e) => r(e.cpu_us_per_delivery, single.server_cpu_us_per_delivery)),
    };
    console.log(JSON.stringify(out));
    console.error(`run-cluster-fanout: ${rate}/s: p99 single ${single.latency_p99_ms} ms, cluster ${cluster.latency_p99_ms} ms; lost ${single.lost}/${cluster.lost}; ` +
      `CPU per delivery single ${single.server_cpu_us_per_delivery} us, edges ${edges.map((e) => e.cpu_us_per_delivery).join(", ")} us ` +
      `(edge/single ${out.edge_over_single_cpu.join(", ")}), all processes ${cluster.cluster_cpu_us_per_delivery} us; ` +
      `Redis ${out.redis_cpu_us_per_approval} us per approval`);
  ' "$1" "$2" "$3" "$4" "$5"
}

echo "run-cluster-fanout: $CLIENTS viewers, $EDGES edges, rates $RATES; load: $(uptime)" >&2
status=0
for rate in $RATES; do
  # The one process.
  data=$(new_data_dir)
  start_sabla "$SABLA" "$data"
  echo "run-cluster-fanout: single process pid $SERVER_PID on 127.0.0.1:$PORT, $rate approvals/s" >&2
  single=$(timeout --signal=INT $((SECONDS_PER_RUN + 180)) "$LOAD" fanout --port "$PORT" --clients "$CLIENTS" \
    --rate "$rate" --seconds "$SECONDS_PER_RUN" --token "$TOKEN" --server-pid "$SERVER_PID" --connect-timeout 120) || status=1
  echo "$single" | sed 's/^{/{"server_kind":"single",/'
  stop_server

  # Redis, the main node, the edges.
  start_redis
  data=$(new_data_dir)
  start_sabla "$SABLA" "$data" --redis "$REDIS_URL"
  main_pid=$SERVER_PID main_port=$PORT
  pids=$main_pid ports=""
  for i in $(seq "$EDGES"); do
    start_edge "$SABLA" "$(new_data_dir)" "$REDIS_URL" "http://127.0.0.1:$main_port"
    pids+=",$EDGE_PID"
    ports+="${ports:+,}$EDGE_PORT"
  done
  pids+=",$REDIS_PID"
  echo "run-cluster-fanout: main pid $main_pid on :$main_port, edges on $ports, Redis pid $REDIS_PID, $rate approvals/s" >&2
  sleep 1  # the edges' first welcome template
  cluster=$(timeout --signal=INT $((SECONDS_PER_RUN + 180)) "$LOAD" fanout --port "$main_port" --viewer-ports "$ports" \
    --node-pids "$pids" --clients "$CLIENTS" --rate "$rate" --seconds "$SECONDS_PER_RUN" --token "$TOKEN" \
    --connect-timeout 120) || status=1
  echo "$cluster" | sed 's/^{/{"server_kind":"cluster",/'
  [[ -n $single && -n $cluster ]] && summary "$single" "$cluster" "$rate" "$ports" "$REDIS_PID"
  for pid in ${pids//,/ }; do stop_server_pid "$pid"; done
done
exit $status
