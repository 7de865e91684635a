# Shared by the bench/run-*.sh scripts (sourced, not run): start a throw-away
# Sabla server or the Node.js peer on loopback, sample its RSS and CPU from
# /proc, stop it. Each start_* sets SERVER_PID, PORT and TOKEN (a studio
# bearer token) and registers the server for cleanup on exit.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEER_DIR=$BENCH_DIR/peers/node
BENCH_DATA_DIRS=()
BENCH_PIDS=()

bench_die() { echo "bench: $*" >&2; exit 2; }

bench_cleanup() {
  local pid dir
  for pid in "${BENCH_PIDS[@]}"; do stop_server_pid "$pid"; done
  for dir in "${BENCH_DATA_DIRS[@]}"; do rm -rf "$dir"; done
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

stop_server_pid() {
  local pid=$1
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}

stop_server() { stop_server_pid "$SERVER_PID"; SERVER_PID=""; }

new_data_dir() {
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/sabla-bench.XXXXXX")
  BENCH_DATA_DIRS+=("$dir")
  echo "$dir"
}

# wait_for_port DATA_DIR: reads "listening on http://127.0.0.1:PORT" from DATA/server.out.
wait_for_port() {
  local data=$1
  PORT=""
  for _ in $(seq 300); do  # up to 30 s
    PORT=$(sed -n 's#^listening on http://127\.0\.0\.1:\([0-9][0-9]*\)$#\1#p' "$data/server.out")
    [[ -n $PORT ]] && return 0
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      cat "$data/server.err" >&2
      bench_die "the server exited before listening"
    fi
    sleep 0.1
  done
  cat "$data/server.err" >&2
  bench_die "no 'listening on' line from the server within 30 s"
}

# start_sabla SABLA_BINARY DATA_DIR [SERVE_ARGS...]: the per-viewer limits and
# the per-address connection cap lifted (the load generator is one address),
# video off unless SABLA_VIDEO_SOURCE says otherwise, review on (the default).
# SERVE_ARGS go to `sabla serve` (e.g. --redis URL for a cluster's main node).
start_sabla() {
  local sabla=$1 data=$2 out
  shift 2
  [[ -x $sabla ]] || bench_die "not an executable: $sabla (build the sabla target first)"
  out=$(SABLA_LOG_LEVEL=warn "$sabla" token create bench --role producer --data "$data" 2>"$data/token.err") ||
    { cat "$data/token.err" >&2; bench_die "sabla token create failed"; }
  TOKEN=$(sed -n 's/^token: //p' <<<"$out")
  [[ -n $TOKEN ]] || bench_die "no token from sabla token create"
  SABLA_COMMENTS_PER_SECOND=1000000 SABLA_COMMENT_BURST=1000000 SABLA_MAX_CONNECTIONS_PER_IP=100000 \
    SABLA_LOG_LEVEL=warn SABLA_VIDEO_SOURCE="${SABLA_VIDEO_SOURCE:-off}" \
    "$sabla" serve --port 0 --bind 127.0.0.1 --data "$data" "$@" >"$data/server.out" 2>"$data/server.err" &
  SERVER_PID=$!
  BENCH_PIDS+=("$SERVER_PID")
  wait_for_port "$data"
}

# start_edge SABLA_BINARY DATA_DIR REDIS_URL MAIN_URL: a cluster edge node
# (no store, so no token), with the same limits lifted. Sets EDGE_PID and
# EDGE_PORT; SERVER_PID and PORT stay the main node's.
start_edge() {
  local sabla=$1 data=$2 main_pid=$SERVER_PID main_port=$PORT
  SABLA_MAX_CONNECTIONS_PER_IP=100000 SABLA_LOG_LEVEL=warn \
    "$sabla" serve --edge --redis "$3" --main-url "$4" --port 0 --bind 127.0.0.1 --data "$data" \
    >"$data/server.out" 2>"$data/server.err" &
  SERVER_PID=$!
  BENCH_PIDS+=("$SERVER_PID")
  wait_for_port "$data"
  EDGE_PID=$SERVER_PID EDGE_PORT=$PORT
  SERVER_PID=$main_pid PORT=$main_port
}

# start_redis: a throw-away redis-server on a free loopback port, no
# persistence. Sets REDIS_PID and REDIS_URL.
start_redis() {
  command -v redis-server >/dev/null || bench_die "redis-server is not installed (scripts/setup installs it)"
  local port
  for _ in $(seq 20); do
    port=$((20000 + RANDOM % 40000))
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning >/dev/null 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 50); do
      kill -0 "$REDIS_PID" 2>/dev/null || break
      if [[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]]; then
        BENCH_PIDS+=("$REDIS_PID")
        REDIS_URL=redis://127.0.0.1:$port
        return 0
      fi
      sleep 0.1
    done
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
  done
  bench_die "could not start redis-server on a free port"
}

# install_peer: the Node.js peer's npm packages (ws, better-sqlite3, built
# from source against the installed Node), once.
install_peer() {
  [[ -d $PEER_DIR/node_modules/ws && -d $PEER_DIR/node_modules/better-sqlite3 ]] && return 0
  command -v npm >/dev/null || bench_die "npm is needed for the Node.js peer (or run with PEER=none)"
  echo "bench: installing the Node.js peer's packages (npm ci in $PEER_DIR)" >&2
  (cd "$PEER_DIR" && npm ci --no-audit --no-fund >&2) || bench_die "npm ci failed in $PEER_DIR"
}

# start_peer DATA_DIR
start_peer() {
  local data=$1
  install_peer
  TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  node "$PEER_DIR/server.mjs" --port 0 --bind 127.0.0.1 --data "$data" --token "$TOKEN" \
    >"$data/server.out" 2>"$data/server.err" &
  SERVER_PID=$!
  BENCH_PIDS+=("$SERVER_PID")
  wait_for_port "$data"
}

# start_target KIND SABLA_BINARY DATA_DIR, KIND is sabla or node.
start_target() {
  case $1 in
    sabla) start_sabla "$2" "$3" ;;
    node) start_peer "$3" ;;
    *) bench_die "unknown server kind: $1" ;;
  esac
}

# sample LABEL: one JSON line with the server's RSS and CPU time, plus the
# store counters from Sabla's /metrics when curl is there (null for the peer).
sample() {
  local label=$1 stat rest f utime stime rss hwm metrics="" tx="" ops="" commit_max=""
  stat=$(<"/proc/$SERVER_PID/stat")
  rest=${stat##*) }  # the command name may hold spaces; fields restart after ") "
  read -r -a f <<<"$rest"
  utime=${f[11]} stime=${f[12]}  # fields 14 and 15 of stat
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status")
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status")
  if command -v curl >/dev/null; then
    metrics=$(curl -s --max-time 2 "http://127.0.0.1:$PORT/metrics" || true)
    tx=$(awk '$1 == "sabla_store_transactions_total" {print $2}' <<<"$metrics")
    ops=$(awk '$1 == "sabla_store_operations_total" {print $2}' <<<"$metrics")
    commit_max=$(awk '$1 == "sabla_store_commit_seconds_max" {print $2}' <<<"$metrics")
  fi
  awk -v label="$label" -v ut="$utime" -v st="$stime" -v hz="$(getconf CLK_TCK)" -v rss="$rss" -v hwm="$hwm" \
    -v tx="${tx:-null}" -v ops="${ops:-null}" -v cm="${commit_max:-null}" 'BEGIN {
      printf "{\"server\":\"%s\",\"rss_kib\":%d,\"rss_peak_kib\":%d,\"cpu_user_s\":%.2f,\"cpu_sys_s\":%.2f,\"cpu_s\":%.2f,\"store_transactions\":%s,\"store_operations\":%s,\"store_commit_max_s\":%s}\n",
        label, rss, hwm, ut / hz, st / hz, (ut + st) / hz, tx, ops, cm }'
}

# json_field LINE NAME: a top-level number from a sabla-load JSON line.
json_field() {
  sed -n "s/.*\"$2\":\(-\{0,1\}[0-9.e+-]*\).*/\1/p" <<<"$1" | head -n 1
}

# ratio A B: A / B with two decimals, "n/a" when B is 0 or missing.
ratio() {
  awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'
}

# The targets to run: sabla, then the peer; PEER=none runs Sabla only,
# PEER=only the peer only.
bench_targets() {
  case ${PEER:-node} in
    none) echo sabla ;;
    only) echo node ;;
    *) echo sabla node ;;
  esac
}
