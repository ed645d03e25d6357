#!/usr/bin/env bash
# The whole test suite: formatting and clippy, then unit, rule-catalog, store and HTTP tests on SQLite and PostgreSQL
# (with the notice snapshots), the print test (scripts/print_test.sh), the short form of the schemathesis run
# against the service's OpenAPI document, then the API reference page in a headless Chromium
# (scripts/api_docs_test.sh).
# Starts the local PostgreSQL server when it is down (each test makes its own database).
set -euo pipefail
cd "$(dirname "$0")/.."

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
pg_up || { echo "PostgreSQL is not reachable on 127.0.0.1:5432; the tests need it" >&2; exit 1; }

cargo fmt --check
python3 scripts/check_literals.py
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked "$@"
# Notices and guides printed to A4 PDF in headless Chromium (installs chromium, fonts-noto-cjk and
# poppler-utils when missing): page counts, the seal block whole, page numbers.
bash scripts/print_test.sh
bash scripts/schemathesis.sh short
bash scripts/api_docs_test.sh
