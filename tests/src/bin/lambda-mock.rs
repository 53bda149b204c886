//! `lambda-mock`: the local AWS Lambda endpoint of `routewise_tests::lambda_mock` as a process, for
//! `scripts/run`.
//!
//!     lambda-mock [--port N] [--access-key KEY] [--secret SECRET]
//!
//! Listens on 127.0.0.1:N (default 9001; 0 picks a free port), prints `lambda-mock listening on
//! 127.0.0.1:PORT` and then one line per request (function, signature verdict, status). Requests must be
//! SigV4-signed with the given credentials (defaults: the mock's test credentials). The scripted functions
//! are `echo`, `fixed`, `throttle`, `error`, `big`, `binary` and `multi`. Runs until killed.

use std::process::ExitCode;

use routewise_tests::lambda_mock::{self, LambdaMock};
use routewise_tests::sigv4::Credentials;

const USAGE: &str = "usage: lambda-mock [--port N] [--access-key KEY] [--secret SECRET]";

fn usage(problem: &str) -> ExitCode {
    eprintln!("lambda-mock: {problem}\n{USAGE}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut port: u16 = 9001;
    let mut access_key = lambda_mock::ACCESS_KEY.to_string();
    let mut secret = lambda_mock::SECRET.to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--port", Some(v)) => match v.parse() {
                Ok(p) => port = p,
                Err(_) => return usage(&format!("--port: {v:?} is not a port number")),
            },
            ("--access-key", Some(v)) => access_key = v,
            ("--secret", Some(v)) => secret = v,
            ("-h" | "--help", _) => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            ("--port" | "--access-key" | "--secret", None) => return usage(&format!("{arg} needs a value")),
            (other, _) => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let mock = match LambdaMock::serve(port, Credentials::new(&access_key, &secret), true) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("lambda-mock: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "lambda-mock listening on 127.0.0.1:{} (access key {access_key}; functions {})",
        mock.port(),
        lambda_mock::function::ALL.join(", ")
    );
    loop {
        std::thread::park();
    }
}
