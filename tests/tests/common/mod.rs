//! Shared by the host-sim suites that run the real routewise.wasm.

use host_sim::{Plugin, Sim};
use serde_json::Value;

/// routewise.wasm under host-sim, configured with `cfg` (the test fails at once if it is rejected). Needs
/// `cargo build --profile wasm --target wasm32-wasip1 -p routewise-proxy-wasm` first (or `$ROUTEWISE_WASM`).
pub fn routewise_sim(cfg: &Value) -> Sim {
    Plugin::routewise()
        .expect("routewise.wasm (cargo build --profile wasm --target wasm32-wasip1 -p routewise-proxy-wasm)")
        .sim()
        .config_json(cfg)
        .start()
        .expect("configured")
}
