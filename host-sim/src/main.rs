//! `host-sim replay CASE.json`: runs one case through the filter and prints one JSON result.

use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage: host-sim replay CASE.json

Runs the case through the proxy-wasm module under a simulated Envoy and prints one JSON result.
The module is the case's \"wasm\" path, else $ROUTEWISE_WASM, else
target/wasm32-wasip1/wasm/routewise.wasm in the workspace.
Exit status: 0 the exchange completed; 1 the filter failed it (trap, rejected configuration,
stalled stream); 2 the case or the module could not be used.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let case_path = match args.as_slice() {
        [cmd, path] if cmd == "replay" => path.clone(),
        [flag] if flag == "-h" || flag == "--help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match host_sim::Case::load(&case_path) {
        Ok(case) => {
            let wasm = case.wasm_path(Path::new(&case_path).parent());
            host_sim::run_case(&case, &wasm)
        }
        Err(e) => {
            let mut r: host_sim::CaseResult = serde_json::from_value(serde_json::json!({
                "upstream_request": null, "response": null, "local_reply": false, "logs": [],
                "properties": {}, "metrics": {}, "trap": null
            }))
            .expect("static JSON matches CaseResult");
            r.error = Some(e.to_string());
            r
        }
    };
    match serde_json::to_string_pretty(&result) {
        Ok(text) => {
            use std::io::Write;
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout(), "{}", collapse_scalar_arrays(&text));
        }
        Err(e) => {
            eprintln!("cannot print the result: {e}");
            return ExitCode::from(2);
        }
    }
    ExitCode::from(result.exit_code() as u8)
}

/// Pretty JSON with arrays of scalars (header pairs, log lines) on one line each.
fn collapse_scalar_arrays(pretty: &str) -> String {
    let lines: Vec<&str> = pretty.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim_end().ends_with('[') {
            let mut j = i + 1;
            let mut items = Vec::new();
            while j < lines.len() && !lines[j].trim_start().starts_with(']') {
                let t = lines[j].trim();
                if t.ends_with('[') || t.ends_with('{') || t.starts_with('}') {
                    break;
                }
                items.push(t);
                j += 1;
            }
            if j < lines.len() && lines[j].trim_start().starts_with(']') {
                out.push(format!(
                    "{}{}{}",
                    line.trim_end(),
                    items.join(" "),
                    lines[j].trim_start()
                ));
                i = j + 1;
                continue;
            }
        }
        out.push(line.to_string());
        i += 1;
    }
    out.join("\n")
}
