//! `routewise explain` through the binary (E1). Each directory of `tests/golden/explain/` holds a config
//! (`config.json`, or `config.path` naming one, e.g. the output of an import golden test), requests
//! (`NAME.req.json`), the golden human and JSON outputs (`NAME.txt`, `NAME.json`), and `expect.json`: the
//! decisions the spec requires for each request (checked on the JSON output, so rewriting the golden files
//! with `UPDATE_GOLDEN=1` cannot hide a wrong decision).

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{check, golden_dir, report, routewise, sorted_entries, transcript};

fn config_of(case: &Path) -> PathBuf {
    let direct = case.join("config.json");
    if direct.is_file() {
        return direct;
    }
    let rel = std::fs::read_to_string(case.join("config.path")).expect("config.json or config.path");
    case.join(rel.trim())
}

fn field<'v>(x: &'v Value, key: &str) -> &'v Value {
    match key {
        "upstream_path" => &x["upstream"]["path"],
        _ => &x[key],
    }
}

#[test]
fn explain_golden_cases() {
    let mut failures = Vec::new();
    let mut requests = 0;
    for case in sorted_entries(&golden_dir("explain")) {
        if !case.is_dir() {
            continue;
        }
        let config = config_of(&case);
        let config = config.to_str().unwrap();
        let expect: Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("expect.json")).unwrap()).unwrap();
        for req in sorted_entries(&case) {
            let file = req.file_name().unwrap().to_str().unwrap().to_string();
            let Some(name) = file.strip_suffix(".req.json") else {
                continue;
            };
            requests += 1;
            let text = routewise(&case, &["explain", config, "--request", &file]);
            if let Err(e) = check(&case.join(format!("{name}.txt")), &transcript(&text)) {
                failures.push(e);
            }
            let json = routewise(&case, &["explain", config, "--request", &file, "--json"]);
            if !json.status.success() {
                failures.push(format!("{}/{file}: {}", case.display(), transcript(&json)));
                continue;
            }
            let out = String::from_utf8(json.stdout).unwrap();
            if let Err(e) = check(&case.join(format!("{name}.json")), &out) {
                failures.push(e);
            }
            let x: Value = serde_json::from_str(&out).unwrap();
            let Some(want) = expect.get(name).and_then(Value::as_object) else {
                failures.push(format!("{}: no expectation for {name}", case.display()));
                continue;
            };
            for (k, v) in want {
                if field(&x, k) != v {
                    failures.push(format!(
                        "{}/{name}: {k} is {}, the spec wants {v}",
                        case.display(),
                        field(&x, k)
                    ));
                }
            }
            // Explain recomputes every verdict; a disagreement with the engine is reported as a note.
            if x["notes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n.as_str().unwrap().contains("please report"))
            {
                failures.push(format!(
                    "{}/{name}: explain disagrees with the engine: {}",
                    case.display(),
                    x["notes"]
                ));
            }
            // Exactly one selected candidate per layer that decided.
            for layer in ["domain", "route"] {
                let selected = x["candidates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["layer"] == layer && c["verdict"] == "selected")
                    .count();
                let decided = if layer == "domain" {
                    &x["domain"]
                } else {
                    &x["route"]
                };
                if selected != usize::from(!decided.is_null()) {
                    failures.push(format!(
                        "{}/{name}: {selected} selected {layer} candidates",
                        case.display()
                    ));
                }
            }
        }
    }
    assert!(requests >= 20, "only {requests} requests found");
    report(failures);
}

#[test]
fn explain_rejects_an_invalid_config_and_a_malformed_request() {
    let dir = golden_dir("validate");
    let o = routewise(
        &dir,
        &["explain", "many-errors.json", "--request", "many-errors.json"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("routewise explain: many-errors.json is not a valid configuration:\n"),
        "{err}"
    );
    let o = routewise(&dir, &["explain", "valid.json", "--request", "valid.json"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unknown field `domains`"), "{err}");
}
