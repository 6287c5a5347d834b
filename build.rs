//! Build script: checks that the Durable Object classes declared in `wrangler.toml` are exactly
//! the `#[durable_object]` structs in `src/` (a mismatch otherwise only shows up at deploy time),
//! and that its binding names are exactly the `*_BINDING` constants of the wire contracts
//! (`room/contract/`, `ledger/contract.rs`; a mismatch otherwise only shows up as a failed
//! request at run time), and embeds build metadata (git commit) that the service reports at
//! `GET /`.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=wrangler.toml");
    println!("cargo:rerun-if-changed=src");

    let wrangler =
        fs::read_to_string("wrangler.toml").expect("build.rs: cannot read wrangler.toml");
    let (bound, migrated) = wrangler_classes(&wrangler);
    let mut in_code = BTreeSet::new();
    let mut bindings_in_code = BTreeSet::new();
    collect_durable_objects(Path::new("src"), &mut in_code, &mut bindings_in_code);

    if bound != in_code {
        panic!(
            "wrangler.toml [[durable_objects.bindings]] class_name values {bound:?} do not match \
             the #[durable_object] structs in src/ {in_code:?}"
        );
    }
    if let Some(missing) = in_code.iter().find(|c| !migrated.contains(*c)) {
        panic!("Durable Object class {missing} has no [[migrations]] entry in wrangler.toml");
    }
    let binding_names = wrangler_binding_names(&wrangler);
    if binding_names != bindings_in_code {
        panic!(
            "wrangler.toml [[durable_objects.bindings]] name values {binding_names:?} do not \
             match the *_BINDING constants in src/ {bindings_in_code:?}"
        );
    }

    // The Worker's CPU limit per invocation ([limits] cpu_ms; 30 s without it): a session, one
    // invocation for its whole life, derives its CPU budget from it.
    println!(
        "cargo:rustc-env=PUSHER_EDGE_CPU_MS={}",
        wrangler_cpu_ms(&wrangler).unwrap_or(30_000)
    );

    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=PUSHER_EDGE_COMMIT={commit}");
}

/// `cpu_ms` of wrangler.toml's top-level `[limits]`, if it is set; a value it cannot read
/// stops the build rather than silently giving the sessions another budget.
fn wrangler_cpu_ms(toml: &str) -> Option<u64> {
    let mut in_limits = false;
    for line in toml.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.starts_with('[') {
            in_limits = line == "[limits]";
        } else if in_limits {
            if let Some(value) = line.strip_prefix("cpu_ms") {
                let value = value.trim().trim_start_matches('=').trim().replace('_', "");
                let ms = value.parse().unwrap_or_else(|_| {
                    panic!("wrangler.toml [limits] cpu_ms = {value:?} is not a number")
                });
                return Some(ms);
            }
        }
    }
    None
}

/// Class names bound under `[[durable_objects.bindings]]`, and those named in migrations.
fn wrangler_classes(toml: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut bound = BTreeSet::new();
    let mut migrated = BTreeSet::new();
    for line in toml.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        if let Some(rest) = line.split("class_name").nth(1) {
            if let Some(name) = rest.split('"').nth(1) {
                bound.insert(name.to_string());
            }
        }
        if line.starts_with("new_sqlite_classes") || line.starts_with("new_classes") {
            for name in line.split('"').skip(1).step_by(2) {
                migrated.insert(name.to_string());
            }
        }
    }
    (bound, migrated)
}

/// The `name` of every `[[durable_objects.bindings]]` entry.
fn wrangler_binding_names(toml: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_bindings = false;
    for line in toml.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        if line.starts_with('[') {
            in_bindings = line == "[[durable_objects.bindings]]";
        } else if in_bindings && line.split('=').next().map(str::trim) == Some("name") {
            if let Some(name) = line.split('"').nth(1) {
                names.insert(name.to_string());
            }
        }
    }
    names
}

/// Structs annotated `#[durable_object]` in every `.rs` file under `dir`, and the values of
/// the `pub const *_BINDING: &str = "..."` constants.
fn collect_durable_objects(
    dir: &Path,
    out: &mut BTreeSet<String>,
    bindings: &mut BTreeSet<String>,
) {
    let entries = fs::read_dir(dir).expect("build.rs: cannot read src/");
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_durable_objects(&path, out, bindings);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = fs::read_to_string(&path).unwrap_or_default();
            let mut lines = text.lines().map(str::trim);
            while let Some(line) = lines.next() {
                let binding = line
                    .strip_prefix("pub const ")
                    .and_then(|rest| rest.split_once("_BINDING: &str = \""))
                    .and_then(|(_, value)| value.split('"').next());
                if let Some(name) = binding {
                    bindings.insert(name.to_string());
                }
                if line == "#[durable_object]" || line.starts_with("#[durable_object(") {
                    let decl = lines.find(|l| !l.starts_with("#[") && !l.starts_with("//"));
                    if let Some(name) = decl.and_then(|d| d.strip_prefix("pub struct ")) {
                        let name: String = name
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        out.insert(name);
                    }
                }
            }
        }
    }
}
