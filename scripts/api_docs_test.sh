#!/usr/bin/env bash
# The API reference page (/api/docs) in a headless Chromium: the service is built and started on
# a temporary SQLite file and a free loopback port (as in scripts/schemathesis.sh), the page is
# rendered with its JavaScript run (`--dump-dom` after a virtual-time budget), and the rendered
# DOM is checked:
#   - every operation of /api/v1/openapi.json is on the page (method and path);
#   - schemas are rendered: IntakeRequest's required `application` in POST /api/v1/cases, one
#     level further Application's `applicant` (deeper levels are built when opened), and the
#     error codes of the document;
#   - every request body is pre-filled with an example the service reads as the documented shape
#     (the pre-check, intake and impact examples are posted as a clerk and the admin: refused by
#     the rules at most, never as `invalid_body`);
#   - "try it" works, driven by the URL fragment: `#try=get_api_v1_matters` answers 200 with the
#     matter QS-MZ-001, `#try=get_api_v1_matters_code&code=QS-MZ-001` fills the path parameter,
#     and `#try=get_api_v1_catalog` without a token answers 401 `unauthorized`.
# The page is served with its Content-Security-Policy, so a script the policy does not name
# would not run and every check would fail. Installs chromium with apt-get when it is missing.
#
#   scripts/api_docs_test.sh
#   API_DOCS_SCREENSHOT=docs/api-docs.png scripts/api_docs_test.sh   # also take the screenshot
set -euo pipefail
cd "$(dirname "$0")/.."

find_chromium() {
  local c
  for c in chromium chromium-browser google-chrome; do
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
  done
  return 1
}
if ! CHROMIUM=$(find_chromium); then
  echo "chromium is missing; installing it with apt-get"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  else
    echo "api_docs_test: chromium is not installed and this user cannot install it (needs root or" \
      "password-less sudo). Install it with: apt-get install chromium" >&2
    exit 1
  fi
  CHROMIUM=$(find_chromium) || { echo "api_docs_test: chromium is still missing after apt-get" >&2; exit 1; }
fi

cargo build --quiet --locked --bin yichuang
WORK=$(mktemp -d)
# A copy, so that another build into the same target directory cannot replace it meanwhile.
cp "${CARGO_TARGET_DIR:-target}/debug/yichuang" "$WORK/yichuang"
SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
YICHUANG_BIND="127.0.0.1:$PORT" YICHUANG_DATABASE_URL="sqlite://$WORK/api-docs.db" \
  RUST_LOG=warn "$WORK/yichuang" serve > "$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 300); do curl -fs "$BASE/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$BASE/readyz" >/dev/null || { cat "$WORK/server.log"; echo "the service did not start" >&2; exit 1; }
curl -fs "$BASE/api/v1/openapi.json" > "$WORK/openapi.json"

browse() { # browse URL OUT [extra chromium flags...]
  local url=$1 out=$2; shift 2
  timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$WORK/profile" --virtual-time-budget=5000 "$@" "$url" \
    > "$out" 2>> "$WORK/chromium.log" \
    || { tail -n 20 "$WORK/chromium.log"; echo "chromium failed on $url" >&2; exit 1; }
}
browse "$BASE/api/docs" "$WORK/page.html" --dump-dom
browse "$BASE/api/docs#try=get_api_v1_matters" "$WORK/try-matters.html" --dump-dom
browse "$BASE/api/docs#try=get_api_v1_matters_code&code=QS-MZ-001" "$WORK/try-matter.html" --dump-dom
browse "$BASE/api/docs#try=get_api_v1_catalog" "$WORK/try-catalog.html" --dump-dom
if [ -n "${API_DOCS_SCREENSHOT:-}" ]; then
  browse "$BASE/api/docs#op=post_api_v1_cases" /dev/null --hide-scrollbars \
    --screenshot="$(realpath -m "$API_DOCS_SCREENSHOT")" --window-size=1280,1600
  echo "screenshot: $API_DOCS_SCREENSHOT"
fi

python3 - "$WORK" "$BASE" <<'EOF'
import html.parser
import json
import sys

work = sys.argv[1]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self):
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.walk()

    def find(self, **attrs):
        return [n for n in self.walk() if all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]


class Parser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.cur = Node("#root", {}, None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def load(name):
    p = Parser()
    with open(f"{work}/{name}", encoding="utf-8") as f:
        p.feed(f.read())
    return p.root


failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


with open(f"{work}/openapi.json", encoding="utf-8") as f:
    doc = json.load(f)
expected = {(m, p) for p, item in doc["paths"].items() for m in item}
page = load("page.html")
shown = {}
for n in page.walk():
    if n.tag == "details" and "op" in n.attrs.get("class", "").split():
        shown[(n.attrs.get("data-method"), n.attrs.get("data-path"))] = n
check(len(expected) > 20, f"the document has {len(expected)} operations")
missing = sorted(expected - set(shown))
check(not missing, f"every operation is on the page ({len(shown)} rendered; missing: {missing})")
wrong = [k for k, n in shown.items() if k[1] not in n.text() or k[0].upper() not in n.text()]
check(not wrong, f"each operation shows its method and path as text (wrong: {wrong})")

intake = shown.get(("post", "/api/v1/cases"))
fields = intake.find(data_field="IntakeRequest.application") if intake else []
row = fields[0].text() if fields else ""
check(bool(fields) and "Application" in row and "必填" in row,
      f"POST /api/v1/cases renders IntakeRequest.application as a required Application: {row[:120]!r}")
nested = intake.find(data_field="Application.applicant") if intake else []
check(bool(nested) and "Applicant" in nested[0].text() and "必填" in nested[0].text(),
      "the nested schema Application is rendered with its required field applicant")
check(bool(nested) and any(n.tag == "details" for n in nested[0].walk()),
      "Applicant's own fields can be opened below it")
check(bool(page.find(data_code="unknown_matter")), "the error codes are listed")

# The request bodies the page pre-fills are JSON of the documented shape: the service may refuse
# them by its rules (422), but never as unreadable or mistyped (invalid_body).
examples = {}
for n in page.walk():
    if n.tag == "section" and n.attrs.get("id", "").startswith("try-"):
        areas = [t for t in n.walk() if t.tag == "textarea"]
        if areas:
            examples[n.attrs["id"][len("try-"):]] = areas[0].text()
with_body = {op.get("operationId") for item in doc["paths"].values() for op in item.values() if "requestBody" in op}
check(set(examples) == with_body, f"every operation with a body has a pre-filled example ({len(examples)} of {len(with_body)})")
with open(f"{work}/examples.json", "w", encoding="utf-8") as f:
    json.dump({k: examples[k] for k in examples}, f, ensure_ascii=False)
for op_id in ("post_api_v1_assessments", "post_api_v1_cases", "post_api_v1_catalog_impact"):
    try:
        json.loads(examples.get(op_id, ""))
        parsed = True
    except ValueError:
        parsed = False
    check(parsed, f"the example body of {op_id} is JSON")


def answer(name, op_id):
    root = load(name)
    box = root.find(id=f"answer-{op_id}")
    if not box:
        return None, ""
    status = [n.attrs["data-status"] for n in box[0].walk() if "data-status" in n.attrs]
    return (status[0] if status else None), box[0].text()


status, text = answer("try-matters.html", "get_api_v1_matters")
check(status == "200" and "QS-MZ-001" in text, f"#try=get_api_v1_matters answers 200 with QS-MZ-001 (status {status})")
check("x-request-id" in text, "the answer shows its x-request-id")
status, text = answer("try-matter.html", "get_api_v1_matters_code")
check(status == "200" and "最低生活保障" in text and "/api/v1/matters/QS-MZ-001" in text,
      f"#try=get_api_v1_matters_code&code=QS-MZ-001 fills the path and answers 200 (status {status})")
status, text = answer("try-catalog.html", "get_api_v1_catalog")
check(status == "401" and '"unauthorized"' in text,
      f"#try=get_api_v1_catalog without a token answers 401 unauthorized (status {status})")

import urllib.error
import urllib.request

base = sys.argv[2]
for op_id, path, token in (("post_api_v1_assessments", "/api/v1/assessments", "dev-clerk-baishui"),
                           ("post_api_v1_cases", "/api/v1/cases", "dev-clerk-baishui"),
                           ("post_api_v1_catalog_impact", "/api/v1/catalog/impact", "dev-admin")):
    req = urllib.request.Request(base + path, data=examples.get(op_id, "").encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, body = r.status, json.load(r)
    except urllib.error.HTTPError as e:
        status, body = e.code, json.load(e)
    code = body.get("error") if isinstance(body, dict) else None
    check(status < 500 and status not in (400, 401, 403, 415) and code != "invalid_body",
          f"the service reads the example body of {op_id} (status {status}, {code})")

if failures:
    sys.exit(f"api_docs_test: {len(failures)} check(s) failed")
print(f"api_docs_test: the page renders all {len(expected)} operations, schemas and try-it")
EOF
