#!/usr/bin/env bash
# Regenerate docs/notices/: one PNG per notice kind (the first golden example that gives rise to
# it, as in tests/snapshots/) and of a service guide, printed to A4 by headless Chromium and
# rasterised by pdftoppm, so reviewers see the page as the hall prints it. Needs what
# scripts/print_test.sh installs; run that first.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/screenshots
rm -rf "$OUT" && mkdir -p "$OUT" docs/notices
cargo run --quiet --locked -- rules print rules --out "$OUT/html"
python3 - "$OUT" > "$OUT/first.tsv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(f"{sys.argv[1]}/html/manifest.tsv", encoding="utf-8"), delimiter="\t"))
seen = {}
for r in rows:
    if r["type"] == "notice" and r["kind"] not in seen:
        seen[r["kind"]] = r
walk = [r for r in rows if r["kind"] == "supplement" and r["example"].startswith("走查示例")]
for k, r in seen.items():
    print(f"{k}\t{r['file']}\t{r['matter']}\t{r['example']}")
print(f"supplement-walkthrough\t{walk[0]['file']}\t{walk[0]['matter']}\t{walk[0]['example']}")
print("guide\tguides/QS-MZ-001.html\tQS-MZ-001\t办事指南")
PY
rm -f docs/notices/*.png
while IFS=$'\t' read -r name file matter example; do
  chromium --headless --no-sandbox --disable-gpu --no-pdf-header-footer \
    --print-to-pdf="$OUT/$name.pdf" "file://$PWD/$OUT/html/$file" >/dev/null 2>&1
  pdftoppm -r 70 -png "$OUT/$name.pdf" "docs/notices/$name"
done < "$OUT/first.tsv"
ls docs/notices/*.png
