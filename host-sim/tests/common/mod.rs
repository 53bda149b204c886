//! Shared test helpers: the test filter, and inline-WAT modules with a tiny proxy-wasm prelude.
#![allow(dead_code)]

use host_sim::{Plugin, Sim};

/// The test filter's .wasm, built by `scripts/test` (or by hand) before `cargo test`.
pub fn test_filter() -> Plugin {
    let path = host_sim::workspace_root().join("target/wasm32-wasip1/wasm/host_sim_test_filter.wasm");
    if !path.exists() {
        panic!(
            "{} is missing: build it first with\n    cargo build --profile wasm --target wasm32-wasip1 -p host-sim-test-filter",
            path.display()
        );
    }
    Plugin::load(&path).expect("the test filter loads")
}

/// (name, parameter types) of every proxy-wasm ABI v0.2.1 host function; all return i32.
pub const ABI: &[(&str, &str)] = &[
    ("proxy_done", ""),
    ("proxy_set_effective_context", "i"),
    ("proxy_log", "iii"),
    ("proxy_get_log_level", "i"),
    ("proxy_get_current_time_nanoseconds", "i"),
    ("proxy_set_tick_period_milliseconds", "i"),
    ("proxy_get_buffer_bytes", "iiiii"),
    ("proxy_set_buffer_bytes", "iiiii"),
    ("proxy_get_buffer_status", "iii"),
    ("proxy_get_header_map_size", "ii"),
    ("proxy_get_header_map_pairs", "iii"),
    ("proxy_set_header_map_pairs", "iii"),
    ("proxy_get_header_map_value", "iiiii"),
    ("proxy_add_header_map_value", "iiiii"),
    ("proxy_replace_header_map_value", "iiiii"),
    ("proxy_remove_header_map_value", "iii"),
    ("proxy_continue_stream", "i"),
    ("proxy_close_stream", "i"),
    ("proxy_get_status", "iii"),
    ("proxy_send_local_response", "iiiiiiii"),
    ("proxy_http_call", "iiiiiiiiii"),
    ("proxy_grpc_call", "iiiiiiiiiiii"),
    ("proxy_grpc_stream", "iiiiiiiii"),
    ("proxy_grpc_send", "iiii"),
    ("proxy_grpc_cancel", "i"),
    ("proxy_grpc_close", "i"),
    ("proxy_set_shared_data", "iiiii"),
    ("proxy_get_shared_data", "iiiii"),
    ("proxy_register_shared_queue", "iii"),
    ("proxy_resolve_shared_queue", "iiiii"),
    ("proxy_enqueue_shared_queue", "iii"),
    ("proxy_dequeue_shared_queue", "iii"),
    ("proxy_define_metric", "iiii"),
    ("proxy_record_metric", "iI"),
    ("proxy_increment_metric", "iI"),
    ("proxy_get_metric", "ii"),
    ("proxy_get_property", "iiii"),
    ("proxy_set_property", "iiii"),
    ("proxy_call_foreign_function", "iiiiii"),
];

fn params(sig: &str) -> String {
    sig.chars()
        .map(|c| if c == 'I' { " i64" } else { " i32" })
        .collect()
}

/// Import declarations of every ABI function, named `$proxy_...`.
pub fn all_imports() -> String {
    ABI.iter()
        .map(|(n, sig)| {
            format!(
                "(import \"env\" \"{n}\" (func ${n} (param{}) (result i32)))\n",
                params(sig)
            )
        })
        .collect()
}

/// Slots: `(call $st SLOT VALUE)` stores an i32 at SLOT*4 (slots 0..63); out-params live at 0x100..0x200;
/// data segments from 0x400; the bump allocator from 0x8000.
pub const PRELUDE: &str = r#"
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 0x8000))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func $st (param $slot i32) (param $v i32)
    (i32.store (i32.shl (local.get $slot) (i32.const 2)) (local.get $v)))
"#;

/// A module: every ABI import, plus `extra_imports`, the prelude, then `body`.
pub fn wat_module(extra_imports: &str, body: &str) -> Vec<u8> {
    let text = format!(
        "(module\n{}{}\n{}\n{}\n)",
        all_imports(),
        extra_imports,
        PRELUDE,
        body
    );
    wat::parse_str(&text).unwrap_or_else(|e| panic!("bad WAT: {e}\n{text}"))
}

pub fn wat_plugin(body: &str) -> Plugin {
    Plugin::from_bytes(&wat_module("", body)).expect("the WAT module loads")
}

/// The first `n` i32 slots.
pub fn slots(sim: &mut Sim, n: u32) -> Vec<i32> {
    let b = sim.read_memory(0, 4 * n).expect("slots in memory");
    b.chunks(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

pub fn u32_at(sim: &mut Sim, addr: u32) -> u32 {
    let b = sim.read_memory(addr, 4).expect("in memory");
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The bytes a host call returned through the out-params at 0x100 (pointer) and 0x104 (size).
pub fn returned(sim: &mut Sim) -> Vec<u8> {
    let (p, n) = (u32_at(sim, 0x100), u32_at(sim, 0x104));
    if p == 0 {
        return Vec::new();
    }
    sim.read_memory(p, n).expect("returned bytes in memory")
}

/// A WAT string literal of arbitrary bytes.
pub fn wat_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("\\{x:02x}")).collect()
}

/// The pairs wire format of `pairs`.
pub fn pairs(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
    for (k, v) in pairs {
        out.extend((k.len() as u32).to_le_bytes());
        out.extend((v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend(k.as_bytes());
        out.push(0);
        out.extend(v.as_bytes());
        out.push(0);
    }
    out
}
