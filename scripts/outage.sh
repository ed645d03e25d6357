#!/usr/bin/env bash
# Database outages under load, against a release build (figures go to RELIABILITY.md):
#   postgres  a PostgreSQL server of the script's own (initdb in a temp dir, port $OWN_PGPORT,
#             default 55432) is stopped (pg_ctl stop -m fast) for DOWN seconds under wrk load,
#             then started again. SHARED=1 stops the machine's own cluster instead (pg_ctlcluster;
#             it breaks whatever else uses it meanwhile).
#   sqlite    the database on a small tmpfs (needs root) that is filled up under load (dd), then
#             the filler is removed.
# A probe posts one intake and asks /readyz every 100 ms; per phase (before / down / after) the
# script prints their statuses and slowest answer, when the service answered 201 again, and
# wrk's totals (requests, non-2xx, socket errors, slowest request).
# Usage: scripts/outage.sh [postgres|sqlite|both]   (DOWN=5 seconds, DB_TIMEOUT_MS=3000)
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH=${1:-both}
DOWN=${DOWN:-5}
PORT=${PORT:-18090}
OWN_PGPORT=${OWN_PGPORT:-55432}
BASE="http://127.0.0.1:$PORT"
export YICHUANG_DB_TIMEOUT_MS=${DB_TIMEOUT_MS:-3000}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --quiet --bin yichuang
BIN=target/release/yichuang

WORK=$(mktemp -d); chmod 755 "$WORK"
SERVER=""; PROBE=""; PGDATA=""; MOUNTED=""
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
cleanup() {
  [ -n "$PROBE" ] && kill "$PROBE" 2>/dev/null || true
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  if [ -n "$PGDATA" ]; then runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true; fi
  if [ -n "$MOUNTED" ]; then umount "$MOUNTED" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

TODAY=$(TZ=Asia/Shanghai date +%F)
BODY='{"matter":"QS-MZ-001","application":{"applicant":{"kind":"natural_person","name":"李秀英","id_number":"330112195003120017","phone":"13800001234"},"fields":{"household_size":2,"monthly_income":1200,"members":[{"name":"李秀英","id_number":"330112195003120017","relation":"本人"},{"name":"王建国","id_number":"330112194208080042","relation":"配偶"}],"owns_vehicle":false,"bank_account":"6228480012345678","address":"青山县白水镇东村3组12号"},"materials":[{"id":"application_form","signed":true},{"id":"id_cards"},{"id":"household_register"},{"id":"authorization","signed":true},{"id":"income_proof","issued_on":"'$TODAY'"}]}}'
cat > "$WORK/intake.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer dev-clerk-baishui"
wrk.body = [[$BODY]]
LUA

start_server() {
  YICHUANG_BIND="127.0.0.1:$PORT" YICHUANG_DATABASE_URL="$1" YICHUANG_LOG_FORMAT=json RUST_LOG=warn \
    YICHUANG_RELOAD_POLL_MS=0 "$BIN" serve > "$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -fs "$BASE/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  cat "$WORK/server.log"; echo "server did not become ready" >&2; exit 1
}
stop_server() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; SERVER=""; }

now() { date +%s.%N; }
# One line per answer: time, what, status, seconds, error code (- for none).
probe() {
  local r
  while true; do
    r=$(curl -s -o "$WORK/probe.body" -m 30 -w '%{http_code} %{time_total}' -X POST "$BASE/api/v1/cases" \
      -H 'Content-Type: application/json' -H 'Authorization: Bearer dev-clerk-baishui' -d "$BODY")
    echo "$(now) intake $r $(grep -o '"error":"[a-z_]*"' "$WORK/probe.body" | cut -d'"' -f4 || true)"
    r=$(curl -s -o "$WORK/probe.body" -m 30 -w '%{http_code} %{time_total}' "$BASE/readyz")
    echo "$(now) readyz $r $(grep -o '"error":"[a-z_]*"' "$WORK/probe.body" | cut -d'"' -f4 || true)"
    sleep 0.1
  done
}

# summarize LOG T_DOWN T_UP
summarize() {
  awk -v d="$2" -v u="$3" '
    { phase = ($1 < d) ? "1 before" : (($1 < u) ? "2 down" : "3 after");
      k = phase " " $2; n[k]++; c[k " " $3 ($5 == "" ? "" : "/" $5)]++; if ($4 > mx[k]) mx[k] = $4;
      if (phase == "3 after" && $2 == "intake" && $3 == "201" && !r) r = $1 - u;
      if (phase == "3 after" && $2 == "readyz" && $3 == "200" && !ry) ry = $1 - u }
    END {
      for (k in n) { s = ""; for (x in c) if (index(x, k " ") == 1) s = s " " substr(x, length(k) + 2) "×" c[x];
        printf "%-16s %5d probes, statuses:%s, slowest %.3f s\n", k, n[k], s, mx[k] }
      printf "first intake 201 after the database came back: +%.2f s; readyz 200: +%.2f s\n", r, ry
    }' "$1" | sort
}

# run_outage NAME URL BREAK_CMD HEAL_CMD
run_outage() {
  local name=$1 url=$2
  echo "== $name =="
  start_server "$url"
  local dur=$((DOWN + 12))
  wrk -t2 -c32 -d"${dur}s" --timeout 30s --latency -s "$WORK/intake.lua" "$BASE/api/v1/cases" > "$WORK/wrk.txt" &
  local WRK=$!
  probe > "$WORK/probe.log" & PROBE=$!
  sleep 4
  local t_down; t_down=$(now); eval "$3"
  sleep "$DOWN"
  local t_up; t_up=$(now); eval "$4"
  wait "$WRK" || true
  kill "$PROBE" 2>/dev/null || true; wait "$PROBE" 2>/dev/null || true; PROBE=""
  summarize "$WORK/probe.log" "$t_down" "$t_up"
  awk '/requests in/ {print "wrk: " $0} /Non-2xx/ {print "wrk: " $0} /Socket errors/ {print "wrk: " $0} $1=="Latency" && $2 ~ /[0-9]/ {print "wrk: latency avg " $2 ", stdev " $3 ", max " $4}' "$WORK/wrk.txt"
  echo "server log: $(grep -c '"level":"ERROR"' "$WORK/server.log" || true) errors, $(grep -c panicked "$WORK/server.log" || true) panics"
  grep '"level":"ERROR"\|panicked' "$WORK/server.log" | sed 's/"timestamp":"[^"]*",//' | sort | uniq -c | sort -rn | head -n 5 || true
  curl -s "$BASE/readyz"; echo
  stop_server
}

if [ "$WHICH" = postgres ] || [ "$WHICH" = both ]; then
  if [ "${SHARED:-0}" = 1 ]; then
    CL=$(pg_lsclusters -h | awk '$3==5432 {print $1" "$2}')
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE yc_outage_$$" postgres
    run_outage "PostgreSQL (the machine's cluster, stopped for ${DOWN}s)" "postgres://postgres@127.0.0.1:5432/yc_outage_$$" \
      "pg_ctlcluster --skip-systemctl-redirect $CL stop -m fast" "pg_ctlcluster --skip-systemctl-redirect $CL start"
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE yc_outage_$$ WITH (FORCE)" postgres
  else
    PGDATA="$WORK/pg"; mkdir "$PGDATA"; chown postgres "$PGDATA"
    runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres >/dev/null
    PGCTL="runuser -u postgres -- $PGBIN/pg_ctl -D $PGDATA -l $PGDATA/log -w"
    $PGCTL -o "-p $OWN_PGPORT -k $PGDATA -c listen_addresses=127.0.0.1" start >/dev/null
    psql -h 127.0.0.1 -p "$OWN_PGPORT" -U postgres -qc "CREATE DATABASE yc_outage" postgres
    run_outage "PostgreSQL (own server on :$OWN_PGPORT, stopped for ${DOWN}s)" "postgres://postgres@127.0.0.1:$OWN_PGPORT/yc_outage" \
      "$PGCTL -m fast stop >/dev/null" "$PGCTL -o '-p $OWN_PGPORT -k $PGDATA -c listen_addresses=127.0.0.1' start >/dev/null"
  fi
fi
if [ "$WHICH" = sqlite ] || [ "$WHICH" = both ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "== SQLite full disk: skipped (mounting a tmpfs needs root) =="
  else
    mkdir "$WORK/disk"; mount -t tmpfs -o size=512m tmpfs "$WORK/disk"; MOUNTED="$WORK/disk"
    run_outage "SQLite (512 MiB tmpfs filled up for ${DOWN}s)" "sqlite://$WORK/disk/yc.db" \
      "dd if=/dev/zero of=$WORK/disk/filler bs=1M status=none 2>/dev/null || true" "rm -f $WORK/disk/filler"
    umount "$WORK/disk"; MOUNTED=""
  fi
fi
