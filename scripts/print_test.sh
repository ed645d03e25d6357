#!/usr/bin/env bash
# The print test: the sample catalog's notices (every notice kind its golden examples produce)
# and every service guide, laid out by the catalog's templates (`yichuang rules print`), printed
# to A4 PDF by headless Chromium, then read back with poppler's pdftotext:
#   - every notice fits one page, except a 受理通知书 or 一次性告知书 with a long list of materials
#     (at most two); the walkthrough's 一次性告知书 with four items fits one; every guide at most
#     MAX_GUIDE_PAGES;
#   - the seal block (seal name, （盖章）, date) is whole on one page, the last;
#   - every page carries "第 x 页 共 y 页" and the notice number (the guide's name);
#   - a CJK font is installed (otherwise every character prints as a box).
# By default the longest sample of each kind (the worst case for fitting) is printed, plus the
# walkthrough's notice and every guide; PRINT_ALL=1 prints every sample (about 400, slow).
# Installs chromium, fonts-noto-cjk and poppler-utils with apt-get when missing (as root or
# through sudo); otherwise stops saying what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${PRINT_OUT:-target/print}
MAX_GUIDE_PAGES=${MAX_GUIDE_PAGES:-4}

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v pdftotext >/dev/null 2>&1 && command -v pdfinfo >/dev/null 2>&1 || missing+=(poppler-utils)
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh 2>/dev/null | head -n1)" ]; then
  missing+=(fonts-noto-cjk)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "print test: installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "print test: needs ${missing[*]} (Debian packages); install them with: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if [ -z "$(fc-list :lang=zh family 2>/dev/null | head -n1)" ]; then
  echo "print test: no CJK font after installing fonts-noto-cjk; characters would print as boxes" >&2
  exit 1
fi

rm -rf "$OUT"
mkdir -p "$OUT/pdf"
cargo run --quiet --locked -- rules print rules --out "$OUT/html"

# Which files to print: every guide; per notice kind the sample with the most text; the
# walkthrough's one-time notice (its example's name begins with 走查示例).
python3 - "$OUT" "${PRINT_ALL:-0}" > "$OUT/selected.tsv" <<'EOF'
import csv, sys
out, everything = sys.argv[1], sys.argv[2] == "1"
rows = list(csv.DictReader(open(f"{out}/html/manifest.tsv", encoding="utf-8"), delimiter="\t"))
chosen = {}
for r in rows:
    if r["type"] == "guide" or everything:
        chosen[r["file"]] = r
longest = {}
for r in rows:
    if r["type"] == "notice" and int(r["chars"]) > int(longest.get(r["kind"], {"chars": -1})["chars"]):
        longest[r["kind"]] = r
for r in longest.values():
    chosen[r["file"]] = r
walk = [r for r in rows if r["kind"] == "supplement" and r["example"].startswith("走查示例")]
if len(walk) != 1:
    sys.exit("print test: the walkthrough's one-time notice (example 走查示例…) is not in the samples")
chosen[walk[0]["file"]] = dict(walk[0], walkthrough="1")
cols = ["type", "file", "kind", "matter", "seal", "date", "number", "walkthrough"]
print("\t".join(cols))
for r in chosen.values():
    print("\t".join(r.get(c, "") or "" for c in cols))
EOF

fails=0
total=0
: > "$OUT/pages.tsv"
while IFS=$'\t' read -r type file kind matter seal date number walkthrough; do
  [ "$type" = type ] && continue
  total=$((total + 1))
  pdf="$OUT/pdf/$(basename "$file" .html).pdf"
  if ! timeout 120 chromium --headless --no-sandbox --disable-gpu --no-pdf-header-footer \
      --print-to-pdf="$pdf" "file://$PWD/$OUT/html/$file" >/dev/null 2>&1 || [ ! -s "$pdf" ]; then
    echo "FAIL $file: chromium produced no PDF"; fails=$((fails + 1)); continue
  fi
  pages=$(pdfinfo "$pdf" | awk '/^Pages:/ {print $2}')
  printf '%s\t%s\t%s\t%s\n' "$type" "$kind" "$pages" "$file" >> "$OUT/pages.tsv"
  problems=$(python3 - "$pdf" "$kind" "$pages" "$seal" "$date" "$number" "$walkthrough" "$MAX_GUIDE_PAGES" <<'EOF'
import subprocess, sys
pdf, kind, pages, seal, date, number, walk, max_guide = sys.argv[1:9]
doc = "guide" if kind == "guide" else "notice"
pages = int(pages)
text = [subprocess.run(["pdftotext", "-layout", "-f", str(p), "-l", str(p), pdf, "-"],
                       capture_output=True, text=True).stdout for p in range(1, pages + 1)]
flat = ["".join(t.split()) for t in text]   # pdftotext may space CJK text apart
problems = []
# A 受理通知书 lists every material taken in and a 一次性告知书 every defect: a long list may
# take a second page (with page numbers and the number on both); every other notice fits one.
limit = int(max_guide) if kind == "guide" else 2 if kind in ("acceptance", "supplement") else 1
if pages > limit:
    problems.append(f"{pages} pages, at most {limit} allowed")
for i, t in enumerate(flat, 1):
    if f"第{i}页共{pages}页" not in t:
        problems.append(f"page {i} lacks 第 {i} 页 共 {pages} 页")
    if "".join(number.split()) not in t:
        problems.append(f"page {i} lacks {number}")
if doc == "notice":
    marks = [i for i, t in enumerate(flat, 1) if "（盖章）" in t]
    if len(marks) != 1:
        problems.append(f"（盖章） on pages {marks}, expected on exactly one")
    else:
        p = marks[0]
        page = flat[p - 1]
        if p != pages:
            problems.append(f"seal block on page {p} of {pages}, not the last")
        at = page.find("（盖章）")
        if page.rfind("".join(seal.split()), 0, at) < 0 or page.find(date, at) < 0:
            problems.append(f"seal block split: page {p} does not hold seal name, （盖章） and date in order")
if walk == "1" and pages != 1:
    problems.append("the walkthrough's one-time notice must fit one page")
print("; ".join(problems))
EOF
)
  if [ -n "$problems" ]; then
    echo "FAIL $file ($kind, $pages page(s)): $problems"; fails=$((fails + 1))
  fi
done < "$OUT/selected.tsv"

echo "pages per document (type, kind, pages, file): $OUT/pages.tsv"
sort "$OUT/pages.tsv" | awk -F'\t' '{n[$1" "$2]++; if ($3 > m[$1" "$2]) m[$1" "$2] = $3} END {for (k in n) printf "  %-28s %3d printed, at most %d page(s)\n", k, n[k], m[k]}' | sort
echo "print test: $((total - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
