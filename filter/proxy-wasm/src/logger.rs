//! The `log` crate's records go to Envoy's log (`proxy_log`), filtered at the level Envoy runs the VM's
//! logger at, read in `proxy_on_vm_start` (`--component-log-level wasm:debug` shows the debug lines).

use crate::abi::{self, level};

struct EnvoyLog;

static LOGGER: EnvoyLog = EnvoyLog;

impl log::Log for EnvoyLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let l = match record.level() {
            log::Level::Error => level::ERROR,
            log::Level::Warn => level::WARN,
            log::Level::Info => level::INFO,
            log::Level::Debug => level::DEBUG,
            log::Level::Trace => level::TRACE,
        };
        abi::log(l, &record.args().to_string());
    }

    fn flush(&self) {}
}

/// Installs the logger (once per VM), at Info until [`set_level_from_host`] runs: `_initialize` may call
/// `proxy_log` but not `proxy_get_log_level`.
pub fn install() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

/// Filters at the level Envoy runs the VM's logger at.
pub fn set_level_from_host() {
    let max = match abi::log_level() {
        level::TRACE => log::LevelFilter::Trace,
        level::DEBUG => log::LevelFilter::Debug,
        level::INFO => log::LevelFilter::Info,
        level::WARN => log::LevelFilter::Warn,
        level::ERROR => log::LevelFilter::Error,
        _ => log::LevelFilter::Off,
    };
    log::set_max_level(max);
}
