#!/usr/bin/env bash
# Load test of a release build on loopback with wrk: durable intakes per second and latency
# percentiles at 32 and 256 connections, on SQLite and on PostgreSQL, next to wrk's figure for
# /healthz in the same run, and their ratio (intakes per 1,000 /healthz: compare runs by it), and
# that no notice series has a gap. Usage: scripts/load.sh [sqlite|postgres|both|postgres-two]
# (DURATION=15s default); postgres-two runs one instance and then two on one database;
# SUBSCRIBER=1 adds a subscriber of every event delivering to a local receiver during the load.
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH=${1:-both}
DURATION=${DURATION:-15s}
PORT=${PORT:-18080}
BASE="http://127.0.0.1:$PORT"

. scripts/bench_lib.sh
need_wrk
# BIN=path/to/yichuang runs a binary built beforehand (e.g. copied out of a shared target dir);
# otherwise a release build of this tree. The service's own YICHUANG_* variables pass through, so
# `YICHUANG_KEY_FILE=... scripts/load.sh sqlite` measures with personal data encrypted.
release_bin

WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
SERVER=""

# A complete 低保 application (accepted, with a route and one notice), dated today.
write_intake_lua "$WORK/intake.lua"

# SUBSCRIBER=1: a subscriber taking every event (native profile, signed) from a receiver on this
# machine that answers 204 at once and counts what it got; delivery runs during the load.
CONFIG_ARGS=()
if [ "${SUBSCRIBER:-0}" = 1 ]; then
  RECEIVER_PORT=$((PORT + 10))
  cat > "$WORK/receiver.py" <<'PY'
import http.server, sys, threading
count = 0
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        global count
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            count += 1
        self.send_response(204); self.send_header("Content-Length", "0"); self.end_headers()
    def do_GET(self):
        body = str(count).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
  python3 "$WORK/receiver.py" "$RECEIVER_PORT" &
  RECEIVER=$!
  cat > "$WORK/config.yaml" <<YAML
subscribers:
  - name: load-receiver
    url: http://127.0.0.1:$RECEIVER_PORT/events
    events: ["*"]
    profile: native
    secret: "load-test-secret-0123456789"
YAML
  CONFIG_ARGS=(--config "$WORK/config.yaml")
  trap 'kill $SERVER $RECEIVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
fi
delivered() { [ "${SUBSCRIBER:-0}" = 1 ] && echo "events the receiver got: $(curl -fs "http://127.0.0.1:$RECEIVER_PORT/")"; return 0; }

start_server() {
  YICHUANG_BIND="127.0.0.1:$PORT" YICHUANG_DATABASE_URL="$1" YICHUANG_LOG_FORMAT=json RUST_LOG=warn \
    "$BIN" serve "${CONFIG_ARGS[@]}" > "$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -fs "$BASE/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  cat "$WORK/server.log"; echo "server did not become ready" >&2; exit 1
}

stop_server() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; SERVER=""; }

# Print: rps p50 p99 non2xx
measure() {
  local out
  out=$(wrk -t2 -c"$1" -d"$DURATION" --latency "${@:3}" "$2")
  local rps p50 p99 bad
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $5}' <<<"$out"); bad=${bad:-0}
  errs=$(awk '/Socket errors/ {print $0}' <<<"$out")
  echo "$rps $p50 $p99 $bad ${errs:+($errs)}"
}

# Intakes per 1,000 /healthz requests: the figure to compare across runs on a noisy machine.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", 1000 * a / b; else print "-" }'; }

run_backend() {
  local name=$1 url=$2
  start_server "$url"
  echo "== $name =="
  printf '%-10s %-6s %12s %10s %10s %8s\n' endpoint conns req/s p50 p99 non-2xx
  for c in 32 256; do
    local irps hrps
    read -r rps p50 p99 bad rest < <(measure "$c" "$BASE/api/v1/cases" -s "$WORK/intake.lua")
    irps=$rps
    printf '%-10s %-6s %12s %10s %10s %8s %s\n' intake "$c" "$rps" "$p50" "$p99" "$bad" "${rest:-}"
    read -r rps p50 p99 bad rest < <(measure "$c" "$BASE/healthz")
    hrps=$rps
    printf '%-10s %-6s %12s %10s %10s %8s %s\n' healthz "$c" "$rps" "$p50" "$p99" "$bad" "${rest:-}"
    echo "RATIO $name @$c: $(ratio "$irps" "$hrps") intakes per 1,000 /healthz"
  done
  delivered
  stop_server
}

# Every notice series must be numbered 1..n without a gap, however the intakes were batched.
GAPS_SQL="select count(*) from (select center_id, kind, year from notices group by center_id, kind, year having max(seq) <> count(*) or min(seq) <> 1) g"

if [ "$WHICH" = sqlite ] || [ "$WHICH" = both ]; then
  run_backend "SQLite (WAL, synchronous=FULL, group commit)" "sqlite://$WORK/load.db"
  echo "cases stored: $(sqlite3 "$WORK/load.db" 'select count(*) from cases' 2>/dev/null || echo '(sqlite3 CLI not installed)')"
  echo "notice series with a gap: $(sqlite3 "$WORK/load.db" "$GAPS_SQL" 2>/dev/null || echo '(sqlite3 CLI not installed)')"
fi
if [ "$WHICH" = postgres ] || [ "$WHICH" = both ]; then
  DB="yc_load_$$"
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DB" postgres
  run_backend "PostgreSQL 15 (local, group commit)" "postgres://postgres@127.0.0.1:5432/$DB"
  echo "cases stored: $(psql -h 127.0.0.1 -U postgres -tAc 'select count(*) from cases' "$DB")"
  echo "notice series with a gap: $(psql -h 127.0.0.1 -U postgres -tAc "$GAPS_SQL" "$DB")"
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE $DB WITH (FORCE)" postgres
fi

# Two instances on one PostgreSQL database, 16 connections each (32 in all; EACH=n for another
# number), against one instance with 32 in the same run.
if [ "$WHICH" = postgres-two ]; then
  DB="yc_load_$$"
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DB" postgres
  URL="postgres://postgres@127.0.0.1:5432/$DB"
  start_server "$URL"
  read -r one p50 p99 bad rest < <(measure 32 "$BASE/api/v1/cases" -s "$WORK/intake.lua")
  echo "one instance, 32 connections: $one intakes/s (p50 $p50, p99 $p99, non-2xx $bad)"
  FIRST=$SERVER
  PORT2=$((PORT + 1))
  YICHUANG_BIND="127.0.0.1:$PORT2" YICHUANG_DATABASE_URL="$URL" RUST_LOG=warn "$BIN" serve > "$WORK/server2.log" 2>&1 &
  SECOND=$!
  trap 'kill $FIRST $SECOND 2>/dev/null || true; rm -rf "$WORK"' EXIT
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT2/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  EACH=${EACH:-16}   # connections per instance (EACH=32 offers twice the load of one instance)
  # First both instances taking cases at one center (one series of acceptance numbers, which
  # every transaction must take in turn), then the second at another township's center.
  sed 's/dev-clerk-baishui/dev-clerk-qingshi/' "$WORK/intake.lua" > "$WORK/intake-qingshi.lua"
  for second in intake intake-qingshi; do
    measure "$EACH" "$BASE/api/v1/cases" -s "$WORK/intake.lua" > "$WORK/a.txt" &
    MA=$!
    measure "$EACH" "http://127.0.0.1:$PORT2/api/v1/cases" -s "$WORK/$second.lua" > "$WORK/b.txt"
    wait "$MA"
    read -r a ap50 ap99 abad _ < "$WORK/a.txt"
    read -r b bp50 bp99 bbad _ < "$WORK/b.txt"
    where="one center"; [ "$second" = intake-qingshi ] && where="two centers"
    echo "two instances, $EACH connections each, $where: $a + $b = $(awk -v a="$a" -v b="$b" 'BEGIN{print a+b}') intakes/s (p99 $ap99 / $bp99, non-2xx $abad / $bbad)"
  done
  kill "$FIRST" "$SECOND" 2>/dev/null || true; wait "$FIRST" "$SECOND" 2>/dev/null || true
  echo "cases stored: $(psql -h 127.0.0.1 -U postgres -tAc 'select count(*) from cases' "$DB")"
  echo "notice series with a gap: $(psql -h 127.0.0.1 -U postgres -tAc "$GAPS_SQL" "$DB")"
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE $DB WITH (FORCE)" postgres
fi
