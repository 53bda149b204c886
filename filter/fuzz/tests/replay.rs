//! Replays every kept fuzz input on stable, in `cargo test --workspace`: each file of `corpus/<target>/`
//! (the minimised corpus a campaign left) and `regressions/<target>/` (every input that once crashed a
//! target, kept after the fix) through the same harness function libFuzzer runs. A target with no files at
//! all fails: an empty replay would pass whatever the code does.

use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    let mut failed = Vec::new();
    for kind in ["corpus", "regressions"] {
        for file in files(&root.join(kind).join(target)) {
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                failed.push(file.display().to_string());
            }
            n += 1;
        }
    }
    assert!(n > 0, "{target}: no corpus and no regression inputs to replay");
    assert!(
        failed.is_empty(),
        "{target}: {} of {n} inputs fail (each panic above):\n{}",
        failed.len(),
        failed.join("\n")
    );
    eprintln!("{target}: {n} inputs replayed");
}

#[test]
fn config_corpus_and_regressions_replay() {
    replay("config", routewise_fuzz::config);
}

#[test]
fn matcher_diff_corpus_and_regressions_replay() {
    replay("matcher_diff", routewise_fuzz::matcher_diff);
}

#[test]
fn lambda_unwrap_corpus_and_regressions_replay() {
    replay("lambda_unwrap", routewise_fuzz::lambda_unwrap);
}

#[test]
fn lambda_event_corpus_and_regressions_replay() {
    replay("lambda_event", routewise_fuzz::lambda_event);
}

#[test]
fn rx_corpus_and_regressions_replay() {
    replay("rx", routewise_fuzz::rx);
}
