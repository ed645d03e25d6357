#!/usr/bin/env bash
# schemathesis (from PyPI, pinned) against the service's own OpenAPI document: the service is
# built and started on a temporary SQLite file and a free loopback port, then every documented
# operation is tested three times — as the county admin, as a township clerk, and without a
# token — with the checks not_a_server_error, response_schema_conformance,
# status_code_conformance and content_type_conformance. Any failure fails the script; it prints
# the test cases run per pass and the 5xx answers the service logged.
#
#   scripts/schemathesis.sh           # full form: every phase (coverage, fuzzing, stateful),
#                                     # 100 examples per operation and pass: several thousand cases
#   scripts/schemathesis.sh short     # short form run by scripts/test.sh: the fuzzing phase with
#                                     # 8 examples per operation and pass, a few hundred cases
#
# First the document is validated with openapi-spec-validator (strict OpenAPI 3.0).
# schemathesis and the validator are installed into target/schemathesis-venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION=4.32.5
OSV_VERSION=0.9.0
FORM=${1:-full}
case "$FORM" in
  short) EXAMPLES=${SCHEMATHESIS_EXAMPLES:-8}; PHASES=fuzzing ;;
  full) EXAMPLES=${SCHEMATHESIS_EXAMPLES:-100}; PHASES=coverage,fuzzing,stateful ;;
  *) echo "usage: $0 [short|full]" >&2; exit 2 ;;
esac
SEED=${SCHEMATHESIS_SEED:-20261102}

VENV=target/schemathesis-venv
ST="$VENV/bin/schemathesis"
if ! "$ST" --version 2>/dev/null | grep -q "$ST_VERSION"; then
  echo "installing schemathesis $ST_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi
if ! "$VENV/bin/python" -c "import openapi_spec_validator" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "openapi-spec-validator==$OSV_VERSION"
fi

cargo build --quiet --locked --bin yichuang
BIN="${CARGO_TARGET_DIR:-target}/debug/yichuang"

WORK=$(mktemp -d)
SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
YICHUANG_BIND="127.0.0.1:$PORT" YICHUANG_DATABASE_URL="sqlite://$WORK/schemathesis.db" \
  YICHUANG_LOG_FORMAT=json RUST_LOG=info "$BIN" serve > "$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 300); do curl -fs "$BASE/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$BASE/readyz" >/dev/null || { cat "$WORK/server.log"; echo "the service did not start" >&2; exit 1; }
curl -fs "$BASE/api/v1/openapi.json" > "$WORK/openapi.json"
# The document must be valid OpenAPI 3.0 (a client generator for the hall's front-end reads it).
"$VENV/bin/python" -m openapi_spec_validator --schema 3.0 "$WORK/openapi.json" \
  || { echo "the OpenAPI document does not validate" >&2; exit 1; }

CHECKS=not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance
status=0
total=0
run_pass() {
  local name=$1; shift
  local out="$WORK/$name.txt"
  echo "== schemathesis $ST_VERSION, $name: phases $PHASES, $EXAMPLES examples per operation (seed $SEED)"
  set +e
  "$ST" run "$WORK/openapi.json" --url "$BASE" "$@" \
    --checks "$CHECKS" --phases "$PHASES" --max-examples "$EXAMPLES" --seed "$SEED" --workers 2 \
    --request-timeout 30 --suppress-health-check all --no-color > "$out" 2>&1
  local rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    cat "$out"
    status=1
    echo "!! $name: schemathesis found failures (full output above; exit $rc)"
  else
    tail -n 12 "$out"
  fi
  echo "-- $name: $(grep -Eo '[0-9]+ generated' "$out" | tail -n1 || echo '? generated') test cases, exit $rc"
  total=$((total + $(grep -Eo '[0-9]+ generated' "$out" | tail -n1 | grep -Eo '[0-9]+' || echo 0)))
}

run_pass admin -H "Authorization: Bearer dev-admin"
run_pass clerk -H "Authorization: Bearer dev-clerk-baishui"
run_pass anonymous

FIVE_XX=$(grep -c '"status":5[0-9][0-9]' "$WORK/server.log" || true)
PANICS=$(grep -c 'panicked' "$WORK/server.log" || true)
echo "schemathesis ($FORM): $total test cases in 3 passes; 5xx answers logged by the service: $FIVE_XX; panics: $PANICS"
if [ "$FIVE_XX" != 0 ] || [ "$PANICS" != 0 ]; then
  grep -E '"status":5[0-9][0-9]|panicked' "$WORK/server.log" | head -n 20
  status=1
fi
exit $status
