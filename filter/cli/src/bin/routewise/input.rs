//! Reading the files subcommands are given (`-` is standard input), with one error style.

use std::io::Read;
use std::path::Path;

/// The text of `path`, or of standard input for `-`; the error names the file.
pub fn read_text(path: &Path) -> Result<String, String> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("standard input: {e}"))?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// How a file is named in messages.
pub fn display(path: &Path) -> String {
    if path == Path::new("-") {
        "standard input".into()
    } else {
        path.display().to_string()
    }
}

/// Writes `text` to standard output. A closed pipe (`routewise schema | head`) is not an error: the reader
/// has what it wanted. Other write errors are reported.
pub fn print(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("standard output: {e}")),
        _ => Ok(()),
    }
}
