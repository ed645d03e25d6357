#!/usr/bin/env bash
# A window clerk's day in one script: every intake outcome against a running service.
# Start the service first (`cargo run -- serve`), then: bash examples/walkthrough.sh
# BASE names the service (default http://127.0.0.1:8080).
set -euo pipefail
BASE=${BASE:-http://127.0.0.1:8080}
CLERK="Authorization: Bearer dev-clerk-baishui"
JSON="Content-Type: application/json"
TODAY=$(TZ=Asia/Shanghai date +%F)
# Printing stops inside python (no `| head`): a closed pipe would end the script under pipefail.
show() { python3 -c 'import json,sys; d=json.load(sys.stdin); print("\n".join(json.dumps(d, ensure_ascii=False, indent=2).splitlines()[:int(sys.argv[1])]))' "${1:-40}"; }
summary() { python3 -c '
import json,sys
d=json.load(sys.stdin)
if "error" in d: print("ERROR", d["error"], d["message"]); sys.exit()
c=d["case"]; print("case", c["id"], "| status", c["status"], "| outcome", d["outcome"], "| due", c["due_date"])
for n in d["notices"]:
    print("  notice", n["number"], n["content"]["title"], "->", n["print_url"])
    for it in n["content"]["items"]: print("     -", it["title"], ":", it["detail"])
'; }

echo "## 1. 事项目录 / the catalog"
curl -s "$BASE/api/v1/matters?level=village" | python3 -c 'import json,sys; [print(m["code"], m["name"], m["handling"]) for m in json.load(sys.stdin)[:8]]'

APP='{"applicant":{"kind":"natural_person","name":"李秀英","id_number":"330112195003120017","phone":"13800001234"},
 "fields":{"household_size":2,"monthly_income":1200,"members":[{"name":"李秀英","id_number":"330112195003120017","relation":"本人"},{"name":"王建国","id_number":"330112194208080042","relation":"配偶"}],
 "owns_vehicle":false,"bank_account":"6228480012345678","address":"青山县白水镇东村3组12号"},'

echo; echo "## 2. 一次性告知 / supplement needed: several defects at once"
R=$(curl -s -X POST "$BASE/api/v1/cases" -H "$CLERK" -H "$JSON" -d "{\"matter\":\"QS-MZ-001\",\"application\":$APP \"materials\":[{\"id\":\"application_form\",\"signed\":false},{\"id\":\"id_cards\"}]}}")
echo "$R" | summary
CASE=$(echo "$R" | python3 -c 'import json,sys; print(json.load(sys.stdin)["case"]["id"])')

echo; echo "## 3. 补正后受理 / the applicant returns: supplement → accepted (承诺件)"
curl -s -X POST "$BASE/api/v1/cases/$CASE/supplements" -H "$CLERK" -H "$JSON" -d "{\"materials\":[{\"id\":\"application_form\",\"signed\":true},{\"id\":\"household_register\"},{\"id\":\"authorization\",\"signed\":true},{\"id\":\"income_proof\",\"issued_on\":\"$TODAY\"}]}" | summary

echo; echo "## 4. 不予受理 / refused with reason and basis"
curl -s -X POST "$BASE/api/v1/cases" -H "$CLERK" -H "$JSON" -d "{\"matter\":\"QS-MZ-001\",\"application\":$(echo "$APP" | sed 's/"owns_vehicle":false/"owns_vehicle":true/') \"materials\":[]}}" | summary

echo; echo "## 5. 容缺受理 / accepted with a material to follow"
curl -s -X POST "$BASE/api/v1/cases" -H "$CLERK" -H "$JSON" -d "{\"matter\":\"QS-MZ-001\",\"application\":$APP \"materials\":[{\"id\":\"application_form\",\"signed\":true},{\"id\":\"id_cards\"},{\"id\":\"household_register\"},{\"id\":\"authorization\",\"signed\":true}],\"commitment_signed\":true}}" | summary

echo; echo "## 6. 即办件 / decided on the spot: 个体工商户设立登记"
SHOP='{"matter":"QS-SC-001","application":{"applicant":{"kind":"natural_person","name":"张伟","id_number":"330112198506150131","phone":"13905710001"},
 "fields":{"business_name":"青山县白水镇张伟理发店","organization_form":"个人经营","industry":"理发美容","business_scope":"理发服务",
 "premises_address":"青山县白水镇东村商业街8号","capital":30000,"employees":2,"phone":"13905710001","designated_spot_only":false},
 "materials":[{"id":"application_form","signed":true},{"id":"applicant_id_card","expires_on":"2035-06-15"},{"id":"premises_proof"}]}}'
KEY="walkthrough-getihu-$(date +%s)"
curl -s -X POST "$BASE/api/v1/cases" -H "$CLERK" -H "$JSON" -H "Idempotency-Key: $KEY" -d "$SHOP" | summary

echo; echo "## 7. 同一请求重试 / the same Idempotency-Key returns the same case (200, not a second case)"
curl -s -o /dev/null -D - -X POST "$BASE/api/v1/cases" -H "$CLERK" -H "$JSON" -H "Idempotency-Key: $KEY" -d "$SHOP" | grep -i "^HTTP\|^idempotent-replayed\|^location"

echo; echo "## 8. 越权访问 / a clerk of another township cannot read the case"
curl -s "$BASE/api/v1/cases/$CASE" -H "Authorization: Bearer dev-clerk-qingshi" | show 5

echo; echo "## 9. 打印文书 / the printable notice"
NOTICE=$(curl -s "$BASE/api/v1/cases/$CASE/notices" -H "$CLERK" | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["print_url"])')
curl -s "$BASE$NOTICE" -H "$CLERK" | grep -o '<h1>.*</h1>\|<div class="number">.*</div>\|<div>[^<]*专用章</div>'
echo; echo "## 10. 后台审批 / the back office: the township reviews and reports up, the county decides"
step_of() { curl -s "$BASE/api/v1/cases/$CASE/progress" -H "$1" | python3 -c "
import json,sys
p=json.load(sys.stdin)
print(next(s['id'] for s in p['steps'] if s['state']=='active' and s['unit']=='$2'))"; }
progress() { curl -s "$BASE/api/v1/cases/$CASE/progress" -H "$CLERK" | python3 -c '
import json,sys
p=json.load(sys.stdin)
print("status", p["status"], "| due", p["due_date"])
for m in p["parts"]: print("  matter", m["matter_code"], m["status"], "| colour", m["colour"], "| decision", m["decision"])
for s in p["steps"]: print("  ", s["state"].ljust(9), s["name"], "(", s["unit_name"], ")", s["due_date"] or "", s["comment"] or "")'; }
APPROVER="Authorization: Bearer dev-approver-civil"
for opinion in 入户调查属实，民主评议通过 经审核符合条件，同意上报; do
  S=$(step_of "$CLERK" baishui/center)
  curl -s -o /dev/null -X POST "$BASE/api/v1/cases/$CASE/steps/$S" -H "$CLERK" -H "$JSON" -d "{\"action\":\"approve\",\"comment\":\"$opinion\"}"
done
echo "inbox of 县民政局:"; curl -s "$BASE/api/v1/inbox" -H "$APPROVER" | python3 -c 'import json,sys; [print("  ", s["case_id"], s["name"], "due", s["due_date"], s["colour"]) for s in json.load(sys.stdin)[:3]]'
S=$(step_of "$APPROVER" qingshan/civil-affairs)
curl -s -X POST "$BASE/api/v1/cases/$CASE/steps/$S" -H "$APPROVER" -H "$JSON" -d '{"action":"approve","comment":"同意"}' \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); [print("  result notice", n["number"], n["content"]["title"]) for n in d["notices"]]'
progress

echo; echo "## 11. 统一窗口出件与好差评 / issued at the window with originals checked, then rated"
curl -s -o /dev/null -X POST "$BASE/api/v1/cases/$CASE/delivery" -H "$CLERK" -H "$JSON" -d '{"method":"window_pickup","originals_checked":true,"window":"bs-w02"}'
curl -s -X POST "$BASE/api/v1/cases/$CASE/rating" -H "$CLERK" -H "$JSON" -d '{"level":5,"comment":"跑一次就办好了"}' \
  | python3 -c 'import json,sys; p=json.load(sys.stdin)["progress"]; print("  delivered", p["parts"][0]["delivered_on"], "| rating", p["ratings"][0]["label"])'

echo; echo "## 12. 一件事 / a bundle: one form for 营业执照 + 卫生许可; the licence is issued at once"
BUNDLE='{"bundle":"QS-YJS-BARBERSHOP","application":{"applicant":{"kind":"natural_person","name":"张伟","id_number":"330112198506150131","phone":"13905710001"},
 "fields":{"business_name":"青山县白水镇张伟理发店","organization_form":"个人经营","industry":"理发美容","business_scope":"理发服务",
 "premises_address":"青山县白水镇东村商业街8号","capital":30000,"employees":2,"phone":"13905710001","designated_spot_only":false,
 "place_name":"青山县白水镇张伟理发店","place_type":"理发店","floor_area":35,"staff_count":2,"has_central_ac":false},
 "materials":[{"id":"application_form","signed":true},{"id":"applicant_id_card","expires_on":"2035-06-15"},{"id":"premises_proof"},
  {"id":"hygiene_license_application","signed":true},{"id":"layout_plan"},{"id":"staff_health_certificates"},
  {"id":"hygiene_testing_report","issued_on":"'"$TODAY"'"}]}}'
R=$(curl -s -X POST "$BASE/api/v1/cases" -H "$CLERK" -H "$JSON" -d "$BUNDLE")
echo "$R" | summary
BCASE=$(echo "$R" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("case",{}).get("id",""))')
if [ -n "$BCASE" ]; then
  curl -s "$BASE/api/v1/cases/$BCASE/progress" -H "$CLERK" | python3 -c '
import json,sys
p=json.load(sys.stdin)
if "parts" in p: [print("  matter", m["matter_code"], m["matter_name"], "->", m["status"], m["decision"] or "") for m in p["parts"]]
else: print("  ", p.get("message"))'

  echo; echo "## 13. 撤回 / the applicant withdraws the bundle before the permit is decided"
  curl -s -X POST "$BASE/api/v1/cases/$BCASE/withdrawal" -H "$CLERK" -H "$JSON" -d '{"reason":"申请人暂不开业，申请撤回"}' \
    | python3 -c '
import json,sys
d=json.load(sys.stdin)
if "error" in d: print("  ERROR", d["error"], d["message"]); sys.exit()
print("  case", d["progress"]["status"], "| notice", [n["number"] for n in d["notices"]])
[print("  matter", m["matter_code"], "->", m["status"]) for m in d["progress"]["parts"]]'
fi

echo; echo "## 14. 电子监察 / the county's figures today, by township"
curl -s "$BASE/api/v1/supervision/figures?from=$TODAY&to=$TODAY&by=township&format=csv" -H "Authorization: Bearer dev-supervisor-county"
echo; echo "done"
