//! The deployment files and docs/deploy.md say what the service is: the configuration file loads,
//! the unit is hardened as documented and its paths are those of the configuration, nginx's body
//! limit and timeouts match the service's, the container runs as a non-root user with a health
//! check, every `YICHUANG_*` variable named is one the service reads, every `yichuang …` command
//! of the guide parses, and every link of the guide stays inside the repository.

use std::path::{Path, PathBuf};

use clap::Parser;
use yichuang::cli::Cli;
use yichuang::config::{Config, VARIABLES};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The values of `Key=` lines of a systemd unit (every occurrence).
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(|v| v.trim().to_string())
        .collect()
}

#[test]
fn the_deployed_configuration_loads_and_the_unit_matches_it() {
    let config = Config::load(Some(&root().join("deploy/yichuang.yaml"))).unwrap();
    assert_eq!(config.bind, "127.0.0.1:8080", "behind nginx, on loopback");
    let db = config
        .database_url
        .strip_prefix("sqlite://")
        .expect("SQLite");
    let data_dir = Path::new(db)
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();

    let unit = read("deploy/yichuang.service");
    let one = |k: &str| {
        let v = unit_values(&unit, k);
        assert_eq!(v.len(), 1, "{k}: {v:?}");
        v[0].clone()
    };
    assert_eq!(one("User"), "yichuang");
    assert_eq!(
        one("ExecStart"),
        "/usr/local/bin/yichuang serve --config /etc/yichuang/yichuang.yaml"
    );
    assert_eq!(one("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(one("Restart"), "on-failure");
    assert_eq!(one("ProtectSystem"), "strict");
    assert_eq!(one("ReadWritePaths"), data_dir);
    assert_eq!(one("WorkingDirectory"), data_dir);
    assert_eq!(format!("/var/lib/{}", one("StateDirectory")), data_dir);
    for (k, v) in [
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("ProtectHome", "yes"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
    ] {
        assert_eq!(one(k), v, "{k}");
    }
    assert_eq!(
        unit_values(&unit, "SystemCallFilter"),
        ["@system-service", "~@privileged @resources"]
    );
    // The configuration's files are where the guide installs them.
    assert_eq!(config.rules_dir, Path::new("/etc/yichuang/rules"));
    assert_eq!(config.tokens_file, Path::new("/etc/yichuang/tokens.yaml"));

    // systemd's own reading of the unit, where systemd-analyze is installed: it parses, and its
    // exposure is as low as docs/deploy.md says.
    match std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(root().join("deploy/yichuang.service"))
        .output()
    {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let level: f64 = text
                .lines()
                .find_map(|l| l.split("exposure level for yichuang.service: ").nth(1))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no exposure level: {text}"));
            assert!(level <= 1.6, "exposure {level}");
            let doc = read("docs/deploy.md")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            assert!(
                doc.contains(&format!("rates its exposure {level}")),
                "{level}"
            );
        }
        Err(e) => eprintln!("systemd-analyze not available ({e}); unit checked as text only"),
    }
}

#[test]
fn nginx_passes_what_the_service_accepts() {
    let conf = read("deploy/nginx.conf");
    let directive = |name: &str| -> Vec<String> {
        conf.lines()
            .map(str::trim)
            .filter(|l| l.starts_with(&format!("{name} ")))
            .map(|l| l[name.len()..].trim().trim_end_matches(';').to_string())
            .collect()
    };
    let defaults = Config::default();
    let size = directive("client_max_body_size");
    assert_eq!(size.len(), 1);
    let bytes: usize = match size[0].strip_suffix('k') {
        Some(k) => k.parse::<usize>().unwrap() * 1024,
        None => size[0].parse().unwrap(),
    };
    assert_eq!(bytes, defaults.max_body_bytes);
    let secs = |v: &str| v.trim_end_matches('s').parse::<u64>().unwrap() * 1000;
    assert!(secs(&directive("proxy_read_timeout")[0]) > defaults.request_timeout_ms);
    assert_eq!(
        secs(&directive("client_header_timeout")[0]),
        defaults.client_request_timeout_ms
    );
    assert_eq!(directive("return"), ["301 https://$host$request_uri"]);
    assert!(directive("listen").iter().any(|l| l == "443 ssl"));
    for h in [
        "Host",
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "X-Request-Id",
    ] {
        assert!(
            directive("proxy_set_header")
                .iter()
                .any(|v| v.starts_with(&format!("{h} "))),
            "{h}"
        );
    }
    assert_eq!(directive("ssl_certificate").len(), 1);
    assert_eq!(directive("ssl_certificate_key").len(), 1);
    // The upstream is where the deployed configuration binds.
    let config = Config::load(Some(&root().join("deploy/yichuang.yaml"))).unwrap();
    let upstreams: Vec<String> = directive("server")
        .into_iter()
        .filter(|v| v != "{")
        .collect();
    assert_eq!(upstreams, [config.bind]);
}

#[test]
fn the_container_runs_unprivileged_with_a_health_check() {
    let c = read("deploy/Containerfile");
    let lines: Vec<&str> = c
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let from: Vec<&&str> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(from.len(), 2, "a build stage and a runtime stage");
    assert!(from[0].contains(" AS build"));
    let user = lines.iter().find_map(|l| l.strip_prefix("USER ")).unwrap();
    assert_ne!(user.trim(), "root");
    assert!(lines.iter().any(|l| l.starts_with("HEALTHCHECK")));
    assert!(c.contains("http://127.0.0.1:8080/healthz"));
    assert!(lines.iter().any(|l| l.starts_with("COPY rules/ ")));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("VOLUME [\"/var/lib/yichuang\"]")));
    assert!(
        !c.contains("tokens.yaml /"),
        "no tokens file may be baked in"
    );
    // The build context leaves out the target directory and databases.
    let ignore = read(".dockerignore");
    for p in ["target/", ".git/", "*.db"] {
        assert!(ignore.lines().any(|l| l == p), "{p}");
    }
}

#[test]
fn every_variable_named_is_one_the_service_reads() {
    for file in [
        "deploy/Containerfile",
        "deploy/yichuang.service",
        "deploy/nginx.conf",
        "docs/deploy.md",
    ] {
        let text = read(file);
        let mut rest = text.as_str();
        while let Some(at) = rest.find("YICHUANG_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            if name == "YICHUANG_" {
                continue; // `YICHUANG_*`
            }
            assert!(VARIABLES.contains(&name.as_str()), "{file}: {name}");
        }
    }
}

/// `<hash prefix>` and the like become one word.
fn placeholders(cmd: &str) -> String {
    let mut out = String::new();
    let mut rest = cmd;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        match rest[at..].find('>') {
            Some(end) => {
                out.push_str("abcdef12");
                rest = &rest[at + end + 1..];
            }
            None => {
                out.push_str(&rest[at..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Splits a command line the way a shell would for these simple lines: `'…'` is one word,
/// `$(…)` one placeholder.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            '$' if !quoted && chars.peek() == Some(&'(') => {
                let mut depth = 0;
                for d in chars.by_ref() {
                    match d {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                word.push('X');
            }
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

#[test]
fn every_yichuang_command_of_the_guide_parses() {
    let doc = read("docs/deploy.md");
    let mut in_code = false;
    let mut checked = 0;
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        // Commands in code blocks, and `yichuang …` in the text's backticks.
        let candidates: Vec<String> = if in_code {
            if line.trim_start().starts_with('#') {
                continue;
            }
            vec![line.split(" #").next().unwrap_or_default().to_string()]
        } else {
            // Inline mentions with options are whole commands; `yichuang backup` alone names one.
            line.split('`')
                .skip(1)
                .step_by(2)
                .filter(|c| c.contains(" --"))
                .map(str::to_string)
                .collect()
        };
        for cmd in candidates {
            let w = words(&placeholders(&cmd));
            let Some(at) = w.iter().position(|x| x == "yichuang") else {
                continue;
            };
            // `runuser -u yichuang -- yichuang …`, `podman exec yichuang yichuang …`: the last
            // `yichuang` starts the command; a bare word `yichuang` (a service name) is none.
            let at = w
                .iter()
                .rposition(|x| x == "yichuang")
                .filter(|&i| i + 1 < w.len())
                .unwrap_or(at);
            let args: Vec<String> = w[at..]
                .iter()
                .map(|a| {
                    if a == "FILE" {
                        "x.db".to_string()
                    } else {
                        a.clone()
                    }
                })
                .collect();
            if args.len() < 2
                || args[1].starts_with('-') && args[1] != "--version"
                || !args[1].chars().all(|c| c.is_ascii_lowercase() || c == '-')
            {
                continue;
            }
            if let Err(e) = Cli::try_parse_from(&args) {
                if e.kind() != clap::error::ErrorKind::DisplayVersion {
                    panic!("docs/deploy.md: `{cmd}` does not parse: {e}");
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} commands found");
}

#[test]
fn the_guide_links_inside_the_repository_and_names_no_machine_paths() {
    let doc = read("docs/deploy.md");
    let mut rest = doc.as_str();
    let mut links = 0;
    while let Some(at) = rest.find("](") {
        let target: String = rest[at + 2..].chars().take_while(|c| *c != ')').collect();
        rest = &rest[at + 2..];
        assert!(
            !target.contains("://"),
            "a link leaves the repository: {target}"
        );
        let path = target.split('#').next().unwrap_or_default();
        assert!(
            root().join("docs").join(path).exists(),
            "docs/deploy.md links to a missing {target}"
        );
        links += 1;
    }
    assert!(links >= 5);
    for machine in ["/work/", "/home/", "/root/", "/tmp/yc"] {
        assert!(!doc.contains(machine), "{machine}");
    }
}
