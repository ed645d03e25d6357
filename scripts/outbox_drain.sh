#!/usr/bin/env bash
# Delivery of a standing outbox backlog (issue 15): EVENTS (default 100,000) events queued for one
# subscriber, then delivered from a standing start to a receiver on this machine, timed.
# Usage: scripts/outbox_drain.sh [sqlite|postgres|both]
#
# 1. Queue: the release service takes 低保 intakes from wrk (each writes its events and their
#    deliveries in the intake's transaction) with the subscriber's receiver down and
#    max_attempts 1, so the first event of each case goes dead at once and the others wait behind
#    it (delivery is in order per case); until EVENTS deliveries are undelivered.
# 2. The service stops; `yichuang outbox resend --dead` puts the dead ones back: every event is
#    pending, none delivered.
# 3. The receiver starts (Python's threaded http.server answering 204, counting event ids and
#    the time of the first and the last), the service starts again, and the script waits until the
#    receiver holds every event id. Printed: events, distinct ids, duplicates, seconds from the
#    service's start and from the first event to the last, events per second, and the service's
#    own count of undelivered events afterwards (must be 0).
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH=${1:-both}
EVENTS=${EVENTS:-100000}
PORT=${PORT:-18090}
RPORT=$((PORT + 1))
BASE="http://127.0.0.1:$PORT"

. scripts/bench_lib.sh
need_wrk
release_bin

WORK=$(mktemp -d)
SERVER=""
RECEIVER=""
trap 'kill $SERVER $RECEIVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

write_intake_lua "$WORK/intake.lua"

cat > "$WORK/receiver.py" <<'PY'
import http.server, sys, threading, time
ids, total, first, last = set(), 0, 0.0, 0.0
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        global total, first, last
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        now = time.time()
        with lock:
            total += 1
            ids.add(self.headers.get("X-Yichuang-Event-Id"))
            first = first or now
            last = now
        self.send_response(204); self.send_header("Content-Length", "0"); self.end_headers()
    def do_GET(self):
        with lock:
            body = f"{len(ids)} {total} {first:.3f} {last:.3f}\n".encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY

config() {
  cat > "$WORK/config.yaml" <<YAML
subscribers:
  - name: drain
    url: http://127.0.0.1:$RPORT/events
    events: ["*"]
    profile: native
    secret: "drain-test-secret-0123456789"
    max_attempts: $1
YAML
}

start_server() {
  YICHUANG_BIND="127.0.0.1:$PORT" YICHUANG_DATABASE_URL="$1" RUST_LOG=warn \
    "$BIN" serve --config "$WORK/config.yaml" >> "$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -fs "$BASE/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  cat "$WORK/server.log"; echo "server did not become ready" >&2; exit 1
}
stop_server() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; SERVER=""; }
undelivered() {
  curl -fs "$BASE/metrics" | awk '/^yichuang_outbox_undelivered\{subscriber="drain"\}/ {print $2}'
}
now() { date +%s.%N; }

run_backend() {
  local name=$1 url=$2
  echo "== $name: $EVENTS events =="
  config 1
  start_server "$url"
  local queued=0
  while [ "${queued%.*}" -lt "$EVENTS" ]; do
    wrk -t2 -c32 -d3s -s "$WORK/intake.lua" "$BASE/api/v1/cases" >/dev/null
    queued=$(undelivered); queued=${queued:-0}
  done
  stop_server
  "$BIN" outbox resend --dead --database "$url" >/dev/null
  # This machine's PostgreSQL runs with autovacuum off (its CI configuration); analyze the
  # tables that grew from nothing, as autovacuum would have by now on a county's server.
  case "$url" in postgres*) psql "$url" -qc ANALYZE ;; esac
  config 8
  python3 "$WORK/receiver.py" "$RPORT" &
  RECEIVER=$!
  sleep 0.5
  local t0 got=0 distinct total first last
  t0=$(now)
  SECONDS=0
  start_server "$url"
  queued=$(undelivered); queued=${queued%.*}
  echo "undelivered when first read after the start (a few already sent): $queued"
  while [ "$got" -lt "$queued" ]; do
    sleep 0.5
    read -r got total first last < <(curl -fs "http://127.0.0.1:$RPORT/")
    if [ "$SECONDS" -gt 1800 ]; then
      echo "not delivered within 30 minutes: $got of $queued" >&2; break
    fi
  done
  read -r distinct total first last < <(curl -fs "http://127.0.0.1:$RPORT/")
  awk -v q="$queued" -v d="$distinct" -v n="$total" -v t0="$t0" -v f="$first" -v l="$last" 'BEGIN {
    printf "delivered: %d distinct event ids, %d requests (%d duplicates)\n", d, n, n - d
    printf "from the service start to the last event: %.1f s (%.0f events/s)\n", l - t0, d / (l - t0)
    printf "from the first event to the last: %.1f s (%.0f events/s)\n", l - f, d / (l - f)
  }'
  echo "undelivered afterwards (the service's metric): $(undelivered)"
  stop_server
  kill "$RECEIVER" 2>/dev/null || true; wait "$RECEIVER" 2>/dev/null || true; RECEIVER=""
}

if [ "$WHICH" = sqlite ] || [ "$WHICH" = both ]; then
  run_backend "SQLite" "sqlite://$WORK/drain.db"
fi
if [ "$WHICH" = postgres ] || [ "$WHICH" = both ]; then
  DB="yc_drain_$$"
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DB" postgres
  run_backend "PostgreSQL 15 (local)" "postgres://postgres@127.0.0.1:5432/$DB"
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE $DB WITH (FORCE)" postgres
fi
