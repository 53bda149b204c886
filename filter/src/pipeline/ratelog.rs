//! Per-request log lines, bounded: a kind of line (a Lambda outcome, the internal error) is written at most
//! once per [`WINDOW_MS`] per worker, and the next line written says how many were left out. The first one
//! is always written (the reason of a first malformed answer is in the log, U15, U16); a throttled function
//! under load writes one line per window, not one per request. Counters and filter state still carry every
//! request.

use std::cell::RefCell;

/// The window of one kind of line.
pub const WINDOW_MS: u64 = 10_000;

/// Kinds of rate-limited lines: one per Lambda outcome, then the internal error, then the JWT payload lines.
const KINDS: usize = JWT_INVALID + 1;

/// The kind of the internal-error line.
pub const INTERNAL_ERROR: usize = crate::lambda::Outcome::ALL.len();
/// A JWT payload header without a token `jwt_authn` verified (a client's copy): ignored and removed.
pub const JWT_UNVERIFIED: usize = INTERNAL_ERROR + 1;
/// A verified JWT payload the filter cannot read (too large, not base64url or JSON): no claims.
pub const JWT_INVALID: usize = JWT_UNVERIFIED + 1;

#[derive(Clone, Copy, Default)]
struct Window {
    /// When the last line was written (host clock), `None` before the first.
    last_ms: Option<u64>,
    /// Lines left out since.
    left_out: u64,
}

thread_local! {
    static WINDOWS: RefCell<[Window; KINDS]> = RefCell::new([Window::default(); KINDS]);
}

/// Logs `line()` at `level` unless a line of `kind` was written less than [`WINDOW_MS`] before `now_ms`.
pub fn log(kind: usize, level: log::Level, now_ms: u64, line: impl FnOnce() -> String) {
    if !log::log_enabled!(level) {
        return;
    }
    let left_out = WINDOWS.with(|w| {
        let mut w = w.borrow_mut();
        let win = w.get_mut(kind)?;
        match win.last_ms {
            Some(last) if now_ms.saturating_sub(last) < WINDOW_MS && now_ms >= last => {
                win.left_out += 1;
                None
            }
            _ => {
                win.last_ms = Some(now_ms);
                Some(std::mem::take(&mut win.left_out))
            }
        }
    });
    match left_out {
        Some(0) => log::log!(level, "{}", line()),
        Some(n) => log::log!(
            level,
            "{} ({n} similar lines left out in the last {} s)",
            line(),
            WINDOW_MS / 1000
        ),
        None => {}
    }
}
