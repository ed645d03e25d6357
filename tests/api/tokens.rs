//! The tokens file as county IT runs it: `yichuang token new` makes a token and its line, the
//! running service takes an added or revoked user on SIGHUP (no restart), a broken file leaves
//! the users as they were, and a start with the published development tokens is warned about.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::logs::{start_service_with, Service};

fn token_new(user: &str, role: &str, unit: &str, window: Option<&str>) -> (String, String) {
    let mut args = vec![
        "token",
        "new",
        "--user",
        user,
        "--name",
        "新同事",
        "--role",
        role,
        "--unit",
        unit,
    ];
    if let Some(w) = window {
        args.extend(["--window", w]);
    }
    let o = Command::new(env!("CARGO_BIN_EXE_yichuang"))
        .args(&args)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let token = out
        .lines()
        .find_map(|l| {
            l.rsplit_once(": ")
                .filter(|_| l.starts_with("token"))
                .map(|(_, t)| t.trim().to_string())
        })
        .expect("a token line");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("- {"))
        .expect("a tokens-file line")
        .to_string();
    (token, line)
}

fn hangup(service: &Service) {
    let status = Command::new("kill")
        .args(["-HUP", &service.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Wait until GET /api/v1/cases with `token` answers `status` (the reload runs in the
/// background after the signal); a bound on a broken reload, not a measurement.
async fn until_status(service: &Service, token: &str, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = service.get("/api/v1/cases", token).await;
        if r.status.as_u16() == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still {} for the token: {}\n{}",
            r.status,
            r.text,
            std::fs::read_to_string(&service.log).unwrap_or_default()
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn tokens_file_reloads_on_sighup_and_dev_tokens_are_warned() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.yaml");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tokens.yaml");
    let original = std::fs::read_to_string(&shipped).unwrap();
    std::fs::write(&tokens, &original).unwrap();
    let db = format!("sqlite://{}/yc.db", dir.path().display());
    let t = tokens.clone();
    let service = start_service_with(dir.path(), &db, "text", move |s| {
        s["tokens_file"] = serde_json::json!(t);
    })
    .await;
    let log = std::fs::read_to_string(&service.log).unwrap();
    assert!(log.contains("development tokens in use"), "{log}");

    // A new clerk: unknown until the file changes and the service is told.
    let (token, line) = token_new("clerk-baishui-2", "clerk", "baishui", Some("bs-w01"));
    assert!(token.len() >= 40, "{token}");
    until_status(&service, &token, 401).await;
    std::fs::write(&tokens, format!("{original}{line}\n")).unwrap();
    hangup(&service);
    until_status(&service, &token, 200).await;

    // A broken file is refused: the users stay as they were.
    std::fs::write(&tokens, "users: [ {").unwrap();
    hangup(&service);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&service.log)
        .unwrap()
        .contains("tokens file not reloaded")
    {
        assert!(
            Instant::now() < deadline,
            "the broken file was not reported"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    until_status(&service, &token, 200).await;

    // Revoked: the line removed, the token no longer works; the others still do.
    std::fs::write(&tokens, &original).unwrap();
    hangup(&service);
    until_status(&service, &token, 401).await;
    until_status(&service, "dev-clerk-baishui", 200).await;
}

#[test]
fn token_new_refuses_an_unknown_role() {
    let o = Command::new(env!("CARGO_BIN_EXE_yichuang"))
        .args([
            "token", "new", "--user", "x", "--name", "x", "--role", "mayor", "--unit", "baishui",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown role 'mayor'"));
    assert!(o.stdout.is_empty());
}

#[test]
fn completions_are_printed_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_yichuang()"),
        ("zsh", "#compdef yichuang"),
        ("fish", "complete -c yichuang"),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_yichuang"))
            .args(["completions", shell])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{shell}");
        assert!(
            out.contains(marker),
            "{shell}: {}",
            &out[..out.len().min(300)]
        );
        // Subcommands are offered.
        for sub in ["serve", "rules", "audit", "token"] {
            assert!(out.contains(sub), "{shell} lacks {sub}");
        }
    }
}
