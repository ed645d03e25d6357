#!/usr/bin/env bash
# Kill test, full form: intake load against a release build, kill -9 mid-load, restart, check
# every acknowledged intake, no half-written case, gap-free unique numbers and intact audit
# chains after each restart (examples/kill_test); a subscriber receiving every event across the
# kills gets each committed event, in order per case (waits up to 180 s at the end for the
# deliveries leased by the killed process). Figures go to RELIABILITY.md.
# Usage: scripts/kill_test.sh [sqlite|postgres|both]   (CYCLES=10 CLIENTS=16 KILL_AFTER_MS=300-1500)
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH=${1:-both}
CYCLES=${CYCLES:-10}
CLIENTS=${CLIENTS:-16}
KILL_AFTER_MS=${KILL_AFTER_MS:-300-1500}

cargo build --release --quiet --bin yichuang --example kill_test
RUN=(target/release/examples/kill_test --binary target/release/yichuang
     --cycles "$CYCLES" --clients "$CLIENTS" --kill-after-ms "$KILL_AFTER_MS")

status=0
if [ "$WHICH" = sqlite ] || [ "$WHICH" = both ]; then
  echo "== SQLite (WAL, synchronous=FULL, group commit) =="
  "${RUN[@]}" || status=1
fi
if [ "$WHICH" = postgres ] || [ "$WHICH" = both ]; then
  echo "== PostgreSQL (local, group commit) =="
  DB="yc_kill_$$"
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DB" postgres
  trap 'psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" postgres' EXIT
  "${RUN[@]}" --database "postgres://postgres@127.0.0.1:5432/$DB" || status=1
fi
exit $status
