//! A small client of the intake API: pre-check an application, take it, and print the notice.
//!
//! Start the service (`cargo run -- serve`), then `cargo run --example client`.
//! `YICHUANG_URL` and `YICHUANG_TOKEN` override the defaults.

use serde_json::{json, Value};

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::var("YICHUANG_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let token = std::env::var("YICHUANG_TOKEN").unwrap_or_else(|_| "dev-clerk-baishui".into());
    let client = awc::Client::default();
    let auth = format!("Bearer {token}");

    let request = json!({
        "matter": "QS-MZ-001",
        "application": {
            "applicant": {"kind": "natural_person", "name": "李秀英", "id_number": "330112195003120017"},
            "fields": {
                "household_size": 1, "monthly_income": 500, "owns_vehicle": false,
                "members": [{"name": "李秀英", "id_number": "330112195003120017", "relation": "本人"}],
                "bank_account": "6228480012345678", "address": "青山县白水镇东村3组12号"
            },
            "materials": [{"id": "application_form", "signed": true}, {"id": "id_cards"}]
        }
    });

    // 1. Pre-check: nothing is stored.
    let mut res = client
        .post(format!("{base}/api/v1/assessments"))
        .insert_header(("Authorization", auth.as_str()))
        .send_json(&request)
        .await?;
    let pre: Value = res.json().await?;
    println!(
        "pre-check: {} ({} defects)",
        pre["outcome"],
        pre["defects"].as_array().map_or(0, Vec::len)
    );

    // 2. Intake with an idempotency key: a retry would return the same case.
    let mut res = client
        .post(format!("{base}/api/v1/cases"))
        .insert_header(("Authorization", auth.as_str()))
        .insert_header((
            "Idempotency-Key",
            format!("client-example-{}", std::process::id()),
        ))
        .send_json(&request)
        .await?;
    let status = res.status();
    let body: Value = res.json().limit(1 << 20).await?;
    if !status.is_success() {
        println!("error {status}: {} — {}", body["error"], body["message"]);
        return Ok(());
    }
    println!("case {} → {}", body["case"]["id"], body["outcome"]);
    for n in body["notices"].as_array().into_iter().flatten() {
        println!("notice {} {}", n["number"], n["content"]["title"]);
        for item in n["content"]["items"].as_array().into_iter().flatten() {
            println!("  - {}: {}", item["title"], item["detail"]);
        }
        println!("  print: {base}{}", n["print_url"].as_str().unwrap_or(""));
    }
    Ok(())
}
