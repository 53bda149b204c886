//! The `log` crate's records go to Envoy's log (the `dynamic_modules` logger), each level checked with
//! Envoy first so that a disabled line is never formatted. `envoy_dynamic_module_callback_log` is used
//! rather than 1.40's `log_v2` so that the module also loads on Envoy 1.39.

use crate::ffi::{self, log_level, Buf};

struct EnvoyLog;

static LOGGER: EnvoyLog = EnvoyLog;

fn level(l: log::Level) -> u32 {
    match l {
        log::Level::Error => log_level::ERROR,
        log::Level::Warn => log_level::WARN,
        log::Level::Info => log_level::INFO,
        log::Level::Debug => log_level::DEBUG,
        log::Level::Trace => log_level::TRACE,
    }
}

impl log::Log for EnvoyLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        // SAFETY: a plain call.
        unsafe { ffi::envoy_dynamic_module_callback_log_enabled(level(metadata.level())) }
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = record.args().to_string();
        // SAFETY: a view of a live String (Envoy copies it).
        unsafe { ffi::envoy_dynamic_module_callback_log(level(record.level()), Buf::of(line.as_bytes())) }
    }

    fn flush(&self) {}
}

/// Installs the logger (once per process; a second call changes nothing).
pub fn install() {
    if log::set_logger(&LOGGER).is_ok() {
        // Envoy decides per line (its level can change at runtime through the admin API).
        log::set_max_level(log::LevelFilter::Trace);
    }
}
