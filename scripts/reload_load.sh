#!/usr/bin/env bash
# Reload under load: sustained intakes with wrk while the catalog changes every second (the
# service's directory watcher reloads each change through its gate). Reports failed requests and
# the p99 latency with reloads next to the p99 without. Usage: scripts/reload_load.sh
# (LOAD_SECONDS=60 CONNS=32 by default).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_UNDER_LOAD=${LOAD_SECONDS:-60}
CONNS=${CONNS:-32}
PORT=${PORT:-18085}
BASE="http://127.0.0.1:$PORT"
. scripts/bench_lib.sh
need_wrk
cargo build --release --quiet
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
cp -r rules "$WORK/rules"
write_intake_lua "$WORK/intake.lua"
YICHUANG_BIND="127.0.0.1:$PORT" YICHUANG_DATABASE_URL="sqlite://$WORK/load.db" \
  YICHUANG_RULES_DIR="$WORK/rules" YICHUANG_RELOAD_POLL_MS=200 RUST_LOG=warn,yichuang::app=info \
  target/release/yichuang serve > "$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -fs "$BASE/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

run_wrk() { wrk -t2 -c"$CONNS" -d"$1" --latency -s "$WORK/intake.lua" "$BASE/api/v1/cases"; }
summary() {
  awk '/Requests\/sec/ {rps=$2} $1=="99%" {p99=$2} $1=="50%" {p50=$2} /Non-2xx/ {bad=$5} /Socket errors/ {sock=$0}
       END {printf "%s req/s, p50 %s, p99 %s, non-2xx %s %s\n", rps, p50, p99, (bad==""?0:bad), sock}'
}

echo "without reloads (20 s): $(run_wrk 20s | summary)"

FILE="$WORK/rules/matters/mz-dibao.yaml"
(
  end=$((SECONDS + SECONDS_UNDER_LOAD))
  i=0
  while [ $SECONDS -lt $end ]; do
    i=$((i + 1))
    # A real change each second: the description's last line alternates.
    sed -i "s/青山县2026年城乡低保标准为每人每月900元。.*/青山县2026年城乡低保标准为每人每月900元。（第$i次修订）/" "$FILE"
    sleep 1
  done
) &
CHANGER=$!
echo "with a change every second (${SECONDS_UNDER_LOAD} s): $(run_wrk "${SECONDS_UNDER_LOAD}s" | summary)"
wait $CHANGER || true
sleep 1
STATUS=$(curl -s "$BASE/api/v1/catalog" -H 'Authorization: Bearer dev-admin')
echo "catalog after the run: $(echo "$STATUS" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["hash"][:12], "activated by", d["activated"]["by"], "| last attempt:", d["last_attempt"] and d["last_attempt"]["outcome"])')"
echo "reloads activated: $(grep -c 'catalog activated' "$WORK/server.log" || true) (log lines at warn level and above: $(wc -l < "$WORK/server.log"))"
