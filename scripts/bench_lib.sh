# Shared by the load scripts (sourced): wrk, the binary under test, the intake request they send.

# wrk from Debian's packages when missing.
need_wrk() {
  command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
}

# BIN=path/to/yichuang runs a binary built beforehand (e.g. copied out of a shared target dir);
# otherwise a release build of this tree.
release_bin() {
  if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet
    BIN=${CARGO_TARGET_DIR:-target}/release/yichuang
  fi
}

# write_intake_lua FILE: a wrk script posting a complete 低保 application dated today (accepted,
# with a route and one notice) as the clerk of baishui.
write_intake_lua() {
  local today
  today=$(TZ=Asia/Shanghai date +%F)
  cat > "$1" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer dev-clerk-baishui"
wrk.body = [[{"matter":"QS-MZ-001","application":{"applicant":{"kind":"natural_person","name":"李秀英","id_number":"330112195003120017","phone":"13800001234"},"fields":{"household_size":2,"monthly_income":1200,"members":[{"name":"李秀英","id_number":"330112195003120017","relation":"本人"},{"name":"王建国","id_number":"330112194208080042","relation":"配偶"}],"owns_vehicle":false,"bank_account":"6228480012345678","address":"青山县白水镇东村3组12号"},"materials":[{"id":"application_form","signed":true},{"id":"id_cards"},{"id":"household_register"},{"id":"authorization","signed":true},{"id":"income_proof","issued_on":"$today"}]}}]]
LUA
}
