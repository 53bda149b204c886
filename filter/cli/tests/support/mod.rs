//! Golden files for the CLI tests: run the `routewise` binary, compare its output with a file under
//! `filter/cli/tests/golden/`. `UPDATE_GOLDEN=1 cargo test -p routewise-cli --test cli_...` rewrites the files
//! instead (review the diff before committing it).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `filter/cli/tests/golden/<rel>`.
pub fn golden_dir(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(rel)
}

/// Runs the binary with `args` in directory `cwd` (so paths in golden output are relative and stable).
pub fn routewise(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_routewise"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run routewise")
}

/// stdout, then stderr (if any) after a `--- stderr` line, then the exit code: one text to compare.
pub fn transcript(o: &Output) -> String {
    let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
    if !o.stderr.is_empty() {
        s.push_str("--- stderr\n");
        s.push_str(&String::from_utf8_lossy(&o.stderr));
    }
    s.push_str(&format!("--- exit {}\n", o.status.code().unwrap_or(-1)));
    s
}

fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1")
}

/// Compares `actual` with the golden file `path` (or writes it under UPDATE_GOLDEN=1). Returns a
/// description of the difference instead of panicking, so one test can report every mismatching file.
pub fn check(path: &Path, actual: &str) -> Result<(), String> {
    if updating() {
        std::fs::write(path, actual).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(());
    }
    let expected = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: {e} (run with UPDATE_GOLDEN=1 to create it)", path.display()))?;
    if expected == actual {
        return Ok(());
    }
    let first = expected
        .lines()
        .zip(actual.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
    Err(format!(
        "{} differs from the output at line {}:\n  expected: {:?}\n  actual:   {:?}\n(UPDATE_GOLDEN=1 rewrites it)",
        path.display(),
        first + 1,
        expected.lines().nth(first).unwrap_or("<end>"),
        actual.lines().nth(first).unwrap_or("<end>")
    ))
}

/// Panics with every failure, if any.
pub fn report(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} golden mismatch(es):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The entries of a directory, sorted by name.
pub fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    v.sort();
    v
}
