//! `routewise lint` through the binary (E2): `tests/golden/lint/*.json` → `*.out` (human) and `*.json.out`
//! (`--json`), with the exit status (1 when a finding is an error). `UPDATE_GOLDEN=1` rewrites them.

mod support;

use support::{check, golden_dir, report, routewise, sorted_entries, transcript};

#[test]
fn lint_golden_cases() {
    let dir = golden_dir("lint");
    let mut failures = Vec::new();
    for config in sorted_entries(&dir) {
        if config.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = config.file_name().unwrap().to_str().unwrap();
        for (flag, suffix) in [(None, "out"), (Some("--json"), "json.out")] {
            let mut args = vec!["lint", name];
            args.extend(flag);
            let o = routewise(&dir, &args);
            if let Err(e) = check(&config.with_extension(suffix), &transcript(&o)) {
                failures.push(e);
            }
        }
    }
    report(failures);
}

#[test]
fn lint_exit_status_follows_error_findings() {
    let dir = golden_dir("lint");
    assert_eq!(routewise(&dir, &["lint", "clean.json"]).status.code(), Some(0));
    assert_eq!(
        routewise(&dir, &["lint", "rules-and-mappings.json"])
            .status
            .code(),
        Some(1)
    );
    let invalid = routewise(&golden_dir("validate"), &["lint", "many-errors.json"]);
    assert_eq!(invalid.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("is not a valid configuration"));
}
