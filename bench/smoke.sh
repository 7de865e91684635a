#!/usr/bin/env bash
# A ~5-second smoke of one sabla-load scenario against a throw-away Sabla
# server (ctest runs one per scenario; see bench/CMakeLists.txt). It checks
# the instrument and the server's side of it work end to end — zero errors,
# zero losses, the JSON line says ok — not any speed.
#
#   bench/smoke.sh SABLA_BINARY SABLA_LOAD_BINARY ingest|hold|fanout
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[[ $# -eq 3 ]] || bench_die "usage: smoke.sh SABLA SABLA_LOAD ingest|hold|fanout"
SABLA=$1 LOAD=$2 SCENARIO=$3

data=$(new_data_dir)
start_sabla "$SABLA" "$data"
case $SCENARIO in
  ingest) args=(ingest --clients 20 --rate 500 --seconds 4 --db "$data/sabla.db") ;;
  hold) args=(hold --clients 300 --seconds 3 --settle-seconds 0.5 --server-pid "$SERVER_PID") ;;
  fanout) args=(fanout --clients 100 --rate 5 --vote-rate 5 --seconds 4 --token "$TOKEN" --server-pid "$SERVER_PID") ;;
  *) bench_die "unknown scenario: $SCENARIO" ;;
esac
rc=0
line=$(timeout --signal=INT 60 "$LOAD" "${args[@]}" --port "$PORT") || rc=$?
echo "$line"
[[ $rc -eq 0 ]] || { echo "smoke: sabla-load exited $rc" >&2; tail -n 20 "$data/server.err" >&2; exit 1; }

expect() {  # expect FIELD VALUE: the JSON line holds "FIELD":VALUE
  grep -q "\"$1\":$2[,}]" <<<"$line" || { echo "smoke: expected \"$1\":$2" >&2; exit 1; }
}
expect ok true
expect connect_failures 0
expect disconnects 0
case $SCENARIO in
  ingest) expect errored 0; expect unacked 0; grep -q '"db":{[^}]*"ok":true' <<<"$line" || { echo "smoke: db check" >&2; exit 1; } ;;
  hold) expect open_at_end 300 ;;
  fanout) expect lost 0; expect duplicates 0; expect approve_errors 0; expect vote_errors 0 ;;
esac
echo "smoke: $SCENARIO ok" >&2
