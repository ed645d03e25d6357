#!/usr/bin/env python3
"""No state, decision or kind of the case lifecycle written as a string literal outside
src/store/mapping.rs: the store's mapping is the one place these names meet text (issue 10).

Reads the stored names from the `text_enum!` tables in mapping.rs, then looks for any of them as
a whole string literal in the non-test code of src/ (everything before a file's first
`#[cfg(test)]`). Exits 1 naming each file:line."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAPPING = ROOT / "src" / "store" / "mapping.rs"
# The lifecycle's enums; channel, level, role and subject names are also words of the rule files
# and the scripts policy staff write, so they are not checked here.
CHECKED = {"CaseStatus", "PartStatus", "StepState", "Decision", "DueKind", "DueState",
           "TimeoutPolicy", "NoticeKind", "EventKind", "OutboxState"}

text = MAPPING.read_text(encoding="utf-8")
names = set()
for m in re.finditer(r"text_enum!\((?:\w+::)*(\w+),\s*\"[^\"]*\",\s*\{(.*?)\}\s*(legacy\s*\{(.*?)\})?\s*\);", text, re.S):
    if m.group(1) in CHECKED:
        names.update(re.findall(r'=>\s*"([a-z_]+)"', m.group(2)))
        if m.group(4):
            names.update(re.findall(r'"([a-z_]+)"\s*=>', m.group(4)))
if len(names) < 30:
    sys.exit(f"check_literals: found only {len(names)} names in {MAPPING}; has its layout changed?")

alt = "|".join(sorted(map(re.escape, names), key=len, reverse=True))
# The places a state is handled as text: compared, matched, filtered on, or written into SQL.
# (Log messages, JSON keys and prose that happen to use the same word are not.)
literal = re.compile(
    r'(?:==|!=)\s*"(' + alt + r')"'
    r'|"(' + alt + r')"\s*(?:==|!=|=>)'
    r'|=>\s*"(' + alt + r')"'
    r'|\.(?:eq|ne)\(\s*"(' + alt + r')"'
    r"|(?:=|IN\s*\(|,)\s*'(" + alt + r")'"
)
# A line may say why its literal is not the lifecycle's (e.g. names rule files and scripts use).
EXEMPT = "not a lifecycle state"
found = []
for path in sorted((ROOT / "src").rglob("*.rs")):
    if path == MAPPING:
        continue
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines, 1):
        if line.strip().startswith("#[cfg(test)]"):
            break
        if line.strip().startswith("//") or EXEMPT in line:
            continue
        for m in literal.finditer(line):
            name = next(g for g in m.groups() if g)
            found.append(f"{path.relative_to(ROOT)}:{i}: \"{name}\" (use the type; store/mapping.rs names it)")
if found:
    print("\n".join(found))
    sys.exit(1)
print(f"check_literals: {len(names)} lifecycle names, none written outside store/mapping.rs")
