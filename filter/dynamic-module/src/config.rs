//! [`ModuleConfig`]: one filter configuration, shared by every worker thread (Envoy calls `config_new` on
//! the main thread and hands the pointer to each stream's `filter_new`).

use routewise::pipeline::{Build, FilterConfig};

use crate::ffi::{self, Buf, EnvoyConfig, METRICS_SUCCESS};

/// The core's configuration and Envoy's id of each of its counters.
#[derive(Debug)]
pub struct ModuleConfig {
    /// The compiled configuration.
    pub config: FilterConfig,
    /// Envoy's counter id by [`routewise::pipeline::CounterId`]; `None` where Envoy refused the definition.
    pub counter_ids: Box<[Option<usize>]>,
}

// Shared across Envoy's workers (`FilterConfig` is asserted `Send + Sync` in the core).
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<ModuleConfig>();
};

impl ModuleConfig {
    /// Parses `bytes` and defines every counter on `envoy` (Envoy refuses definitions once `config_new` has
    /// returned, so all of them, per-rule ones included, are defined now). On a rejection, the log lines.
    pub fn new(envoy: EnvoyConfig, bytes: &[u8]) -> Result<ModuleConfig, Vec<String>> {
        let config = FilterConfig::from_bytes_for(bytes, Build::DynamicModule).map_err(|r| r.log_lines())?;
        let counter_ids = config
            .counters
            .names()
            .map(|(_, name)| define_counter(envoy, &name))
            .collect();
        Ok(ModuleConfig { config, counter_ids })
    }
}

fn define_counter(envoy: EnvoyConfig, name: &str) -> Option<usize> {
    let mut id = 0usize;
    // SAFETY: a view of a live &str, no labels, an out-pointer to a local; called inside config_new.
    let result = unsafe {
        ffi::envoy_dynamic_module_callback_http_filter_config_define_counter(
            envoy,
            Buf::of(name.as_bytes()),
            std::ptr::null(),
            0,
            &mut id,
        )
    };
    if result == METRICS_SUCCESS {
        Some(id)
    } else {
        log::warn!("routewise: cannot define counter {name} (metrics result {result})");
        None
    }
}
