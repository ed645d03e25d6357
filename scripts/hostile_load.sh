#!/usr/bin/env bash
# Ordinary intakes while hostile rule scripts are evaluated: a release build serves the sample
# catalog plus the hostile matters of tests/fixtures/hostile/ in their dormant form (their
# examples do not trigger them, so the catalog passes the gate and goes live, as such a script
# would in real life); wrk measures durable intakes (QS-MZ-001) alone, then again while other
# connections send pre-checks (POST /api/v1/assessments) that trigger a hostile script, each of
# which runs until its limit stops it and is answered 422. Prints p50/p99 of the intakes both
# ways and their ratio.
#
#   scripts/hostile_load.sh      # DURATION=20s CONNS=8 HOSTILE_CONNS=1 HOSTILE=array-copies
#   HOSTILE=all scripts/hostile_load.sh    # every hostile script in turn
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20s}
CONNS=${CONNS:-8}
HOSTILE_CONNS=${HOSTILE_CONNS:-1}
HOSTILE=${HOSTILE:-array-copies}
PORT=${PORT:-18086}
BASE="http://127.0.0.1:$PORT"

. scripts/bench_lib.sh
need_wrk
cargo build --release --quiet --locked --bin yichuang --example hostile_timing

WORK=$(mktemp -d)
SERVER=""
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
target/release/examples/hostile_timing --write-dormant "$WORK"

write_intake_lua "$WORK/intake.lua"

# The hostile pre-checks: one body, or every body in turn.
if [ "$HOSTILE" = all ]; then BODIES=("$WORK"/bodies/*.json); else BODIES=("$WORK/bodies/$HOSTILE.json"); fi
{
  echo 'wrk.method = "POST"'
  echo 'wrk.headers["Content-Type"] = "application/json"'
  echo 'wrk.headers["Authorization"] = "Bearer dev-clerk-baishui"'
  echo 'bodies = {}'
  for b in "${BODIES[@]}"; do printf 'bodies[#bodies + 1] = [[%s]]\n' "$(cat "$b")"; done
  echo 'n = 0'
  echo 'request = function() n = n % #bodies + 1; return wrk.format(nil, "/api/v1/assessments", nil, bodies[n]) end'
  # Every hostile pre-check must be answered 422 rule_script_failed; count anything else.
  echo 'other = 0'
  echo 'response = function(status, headers, body) if status ~= 422 then other = other + 1 end end'
  echo 'done = function(summary, latency, requests) io.write(string.format("not 422: %d\n", other)) end'
} > "$WORK/hostile.lua"

YICHUANG_BIND="127.0.0.1:$PORT" YICHUANG_DATABASE_URL="sqlite://$WORK/load.db" \
  YICHUANG_RULES_DIR="$WORK/rules" RUST_LOG=warn target/release/yichuang serve > "$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -fs "$BASE/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$BASE/readyz" >/dev/null || { cat "$WORK/server.log"; exit 1; }

# One hostile pre-check by hand: the answer names the matter, file, line and rule.
curl -s -X POST "$BASE/api/v1/assessments" -H 'Authorization: Bearer dev-clerk-baishui' \
  -H 'Content-Type: application/json' --data-binary @"${BODIES[0]}" | python3 -c \
  'import json,sys; d=json.load(sys.stdin); print("a hostile pre-check answers:", d["error"], json.dumps(d["details"], ensure_ascii=False))'

# "rps p50 p99 non2xx"
summary() {
  awk '/Requests\/sec/ {rps=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2} /Non-2xx/ {bad=$5}
       END {printf "%s %s %s %s\n", rps, p50, p99, (bad==""?0:bad)}'
}
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) print v/1000; else if (v ~ /ms$/) print v+0; else if (v ~ /s$/) print v*1000; else print v }'; }
intakes() { wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$WORK/intake.lua" "$BASE/api/v1/cases"; }

curl -fs "$BASE/healthz" >/dev/null
intakes > /dev/null # warm-up of the same length, so both measured runs see a similar database
read -r rps0 p50a p99a bad0 < <(intakes | summary)

HOSTILE_SECONDS=$(( ${DURATION%s} + 4 ))
wrk -t1 -c"$HOSTILE_CONNS" -d"${HOSTILE_SECONDS}s" --latency -s "$WORK/hostile.lua" "$BASE/api/v1/assessments" > "$WORK/hostile.txt" &
HOSTILE_WRK=$!
sleep 2
read -r rps1 p50b p99b bad1 < <(intakes | summary)
wait $HOSTILE_WRK
read -r hrps hp50 hp99 _ < <(summary < "$WORK/hostile.txt")
hcount=$(awk '/requests in/ {print $1}' "$WORK/hostile.txt")
hother=$(awk '/not 422:/ {print $3}' "$WORK/hostile.txt")

echo "hostile script(s): $HOSTILE (${#BODIES[@]} body/bodies), $HOSTILE_CONNS connection(s): $hcount pre-checks, each stopped by its limit (p50 $hp50, p99 $hp99), answers other than 422: $hother"
printf '%-28s %10s %10s %10s %8s\n' "intakes ($CONNS connections)" "req/s" p50 p99 non-2xx
printf '%-28s %10s %10s %10s %8s\n' "alone" "$rps0" "$p50a" "$p99a" "$bad0"
printf '%-28s %10s %10s %10s %8s\n' "with hostile pre-checks" "$rps1" "$p50b" "$p99b" "$bad1"
awk -v a="$(to_ms "$p50a")" -v b="$(to_ms "$p50b")" -v c="$(to_ms "$p99a")" -v d="$(to_ms "$p99b")" \
  'BEGIN { printf "latency ratio with/without: p50 %.2f, p99 %.2f\n", b/a, d/c }'
if grep -q panicked "$WORK/server.log"; then echo "the service panicked:"; grep panicked "$WORK/server.log"; exit 1; fi
