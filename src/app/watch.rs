//! The threads that follow catalog changes: the rules directory watcher and, with several
//! instances on one database, the fleet sync that follows the published version.

use std::sync::Arc;

use super::App;

/// What the rules directory looks like now: each file's path, size and modification time.
fn fingerprint(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                pending.push(path);
            } else {
                let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                out.push((path, meta.len(), modified));
            }
        }
    }
    out.sort();
    out
}

/// Watch the rules directory and reload when it changes. A burst of file events (an editor
/// saving, a deploy copying many files) merges into one reload: a change is applied only once
/// the directory looked the same at two polls in a row. Stops when the app is dropped.
pub fn start_watcher(app: &Arc<App>) {
    let every = app.config.reload_poll_ms;
    if every == 0 {
        return;
    }
    let weak = Arc::downgrade(app);
    let dir = app.config.rules_dir.clone();
    let spawned = std::thread::Builder::new()
        .name("yichuang-rules-watch".into())
        .spawn(move || {
            let mut applied = fingerprint(&dir);
            let mut pending = None;
            loop {
                std::thread::sleep(std::time::Duration::from_millis(every));
                let Some(app) = weak.upgrade() else { return };
                let now = fingerprint(&dir);
                if now == applied {
                    pending = None;
                } else if pending.as_ref() == Some(&now) {
                    app.reload("watch");
                    applied = now;
                    pending = None;
                } else {
                    pending = Some(now);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "rules directory not watched; use the reload endpoint or SIGHUP");
    }
}

/// Follow the version published to the database (`rules publish` / `rules activate`): every
/// instance on one database converges to the latest activation within `fleet_poll_ms`.
pub fn start_fleet_sync(app: &Arc<App>) {
    let every = app.config.fleet_poll_ms;
    if every == 0 {
        return;
    }
    let weak = Arc::downgrade(app);
    let spawned = std::thread::Builder::new()
        .name("yichuang-fleet-sync".into())
        .spawn(move || {
            let mut seen: Option<i64> = None;
            loop {
                std::thread::sleep(std::time::Duration::from_millis(every));
                let Some(app) = weak.upgrade() else { return };
                match app.store.active_catalog() {
                    Ok(Some(active)) if seen != Some(active.id) => {
                        // Each activation is tried once; a rejected one stays rejected until a
                        // newer activation appears (the status endpoint shows why).
                        seen = Some(active.id);
                        app.follow_published(&active.hash);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the published catalog version")
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "fleet sync not started");
    }
}
