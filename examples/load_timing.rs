//! Time loading a generated catalog of 5,000 matters (the criterion benchmark does the same with
//! statistics): `cargo run --release --example load_timing`.
use std::time::Instant;
use yichuang::catalog::{Catalog, CatalogSources};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("benches/fixtures/typical-matter.yaml"))?;
    let mut sources = CatalogSources::default();
    for f in [
        "catalog.yaml",
        "org.yaml",
        "calendar/2025.yaml",
        "calendar/2026.yaml",
    ] {
        sources.files.insert(
            f.to_string(),
            std::fs::read_to_string(root.join("rules").join(f))?,
        );
    }
    for i in 0..5000 {
        sources.files.insert(
            format!("matters/b{i:05}.yaml"),
            text.replace("BENCH-0001", &format!("BENCH-{i:05}")),
        );
    }
    for _ in 0..3 {
        let s = sources.clone();
        let t = Instant::now();
        let c = Catalog::load(s).map_err(|e| e.to_string())?;
        println!("loaded {} matters in {:?}", c.matters.len(), t.elapsed());
    }
    Ok(())
}
