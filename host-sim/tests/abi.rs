//! One small inline-WAT module per ABI area: each host call's statuses, as Envoy returns them.

mod common;

use common::*;
use host_sim::{Error, HttpCallReply, LogLevel, Plugin, Request, Response, DEFAULT_START_TIME_SECS};

const OK: i32 = 0;
const NOT_FOUND: i32 = 1;
const BAD_ARGUMENT: i32 = 2;
const PARSE_FAILURE: i32 = 4;
const INVALID_MEMORY_ACCESS: i32 = 6;
const EMPTY: i32 = 7;
const CAS_MISMATCH: i32 = 8;
const UNIMPLEMENTED: i32 = 12;

#[test]
fn every_abi_function_links_with_its_exact_signature() {
    // The prelude imports all 39 functions of §1.2; wasmtime type-checks each import.
    let wasi: String = [
        ("fd_write", "iiii"),
        ("environ_get", "ii"),
        ("environ_sizes_get", "ii"),
        ("random_get", "ii"),
        ("clock_time_get", "iIi"),
        ("args_get", "ii"),
        ("args_sizes_get", "ii"),
        ("fd_seek", "iIii"),
        ("path_open", "iiiiiIIii"),
        ("poll_oneoff", "iiii"),
    ]
    .iter()
    .map(|(n, s)| {
        let p: String = s
            .chars()
            .map(|c| if c == 'I' { " i64" } else { " i32" })
            .collect();
        format!("(import \"wasi_snapshot_preview1\" \"{n}\" (func (param{p}) (result i32)))\n")
    })
    .collect::<String>()
        + "(import \"wasi_snapshot_preview1\" \"proc_exit\" (func (param i32)))\n";
    let plugin = Plugin::from_bytes(&wat_module(&wasi, "")).expect("links");
    plugin.sim().start().expect("starts without any callback");
    assert_eq!(host_sim::PROXY_WASM_FUNCTIONS.len(), ABI.len());
}

#[test]
fn unknown_imports_fail_instantiation_naming_them() {
    let m = wat_module(
        "(import \"env\" \"proxy_frobnicate\" (func (param i32) (result i32)))\n\
         (import \"wasi_snapshot_preview1\" \"sock_open\" (func (param i32) (result i32)))",
        "",
    );
    match Plugin::from_bytes(&m) {
        Err(Error::UnknownImports(names)) => {
            assert_eq!(
                names,
                vec!["env.proxy_frobnicate", "wasi_snapshot_preview1.sock_open"]
            )
        }
        other => panic!("expected UnknownImports, got {other:?}"),
    }
}

#[test]
fn a_wrong_import_signature_or_missing_exports_is_a_load_error() {
    let bad = wat::parse_str(
        r#"(module (import "env" "proxy_log" (func (param i32 i32) (result i32)))
           (memory (export "memory") 1) (func (export "malloc") (param i32) (result i32) i32.const 0)
           (func (export "proxy_abi_version_0_2_1")))"#,
    )
    .unwrap();
    let err = Plugin::from_bytes(&bad).unwrap_err().to_string();
    assert!(err.contains("proxy_log"), "{err}");
    let no_abi = wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "malloc") (param i32) (result i32) i32.const 0))"#).unwrap();
    let err = Plugin::from_bytes(&no_abi).unwrap_err().to_string();
    assert!(err.contains("proxy_abi_version_0_2_1"), "{err}");
}

#[test]
fn log_level_and_clock() {
    let plugin = wat_plugin(
        r#"(data (i32.const 0x400) "hello")
        (func (export "t")
          (call $st (i32.const 0) (call $proxy_log (i32.const 2) (i32.const 0x400) (i32.const 5)))
          (call $st (i32.const 1) (call $proxy_log (i32.const 9) (i32.const 0x400) (i32.const 5)))
          (call $st (i32.const 2) (call $proxy_log (i32.const 2) (i32.const 0x1fff0) (i32.const 100)))
          (call $st (i32.const 3) (call $proxy_get_log_level (i32.const 0x100)))
          (call $st (i32.const 4) (call $proxy_get_current_time_nanoseconds (i32.const 0x108)))
          (call $st (i32.const 5) (call $proxy_get_log_level (i32.const -4))))"#,
    );
    let mut sim = plugin.sim().log_level(LogLevel::Info).start().unwrap();
    sim.call_export("t", 1, &[]).unwrap();
    assert_eq!(
        slots(&mut sim, 6),
        vec![
            OK,
            BAD_ARGUMENT,
            INVALID_MEMORY_ACCESS,
            OK,
            OK,
            INVALID_MEMORY_ACCESS
        ]
    );
    assert_eq!(u32_at(&mut sim, 0x100), LogLevel::Info as u32);
    let t = u64::from_le_bytes(sim.read_memory(0x108, 8).unwrap().try_into().unwrap());
    assert_eq!(t, DEFAULT_START_TIME_SECS * 1_000_000_000);
    assert_eq!(sim.logs_at(LogLevel::Info), vec!["hello"]);
}

#[test]
fn tick_period_fires_on_tick_when_time_advances() {
    let plugin = wat_plugin(
        r#"(global $ticks (mut i32) (i32.const 0))
        (func (export "proxy_on_configure") (param i32 i32) (result i32)
          (drop (call $proxy_set_tick_period_milliseconds (i32.const 100))) (i32.const 1))
        (func (export "proxy_on_tick") (param i32)
          (global.set $ticks (i32.add (global.get $ticks) (i32.const 1)))
          (call $st (i32.const 0) (global.get $ticks)))"#,
    );
    let mut sim = plugin.sim().start().unwrap();
    assert_eq!(sim.tick_period(), std::time::Duration::from_millis(100));
    sim.advance(std::time::Duration::from_millis(350)).unwrap();
    assert_eq!(slots(&mut sim, 1), vec![3]);
    sim.tick().unwrap();
    assert_eq!(slots(&mut sim, 1), vec![4]);
}

#[test]
fn context_calls() {
    let plugin = wat_plugin(
        r#"(func (export "t")
          (call $st (i32.const 0) (call $proxy_set_effective_context (i32.const 999)))
          (call $st (i32.const 1) (call $proxy_set_effective_context (i32.const 1)))
          (call $st (i32.const 2) (call $proxy_done)))"#,
    );
    let mut sim = plugin.sim().start().unwrap();
    sim.call_export("t", 1, &[]).unwrap();
    assert_eq!(slots(&mut sim, 3), vec![BAD_ARGUMENT, OK, NOT_FOUND]);
}

#[test]
fn plugin_configuration_is_readable_only_in_on_configure() {
    let plugin = wat_plugin(
        r#"(func $read (param $slot i32)
          (call $st (local.get $slot)
            (call $proxy_get_buffer_bytes (i32.const 7) (i32.const 0) (i32.const 100) (i32.const 0x100) (i32.const 0x104))))
        (func (export "proxy_on_configure") (param i32 i32) (result i32)
          (call $read (i32.const 0))
          (call $st (i32.const 1) (call $proxy_get_buffer_bytes (i32.const 7) (i32.const 2) (i32.const 2) (i32.const 0x110) (i32.const 0x114)))
          (call $st (i32.const 2) (call $proxy_set_buffer_bytes (i32.const 7) (i32.const 0) (i32.const 0) (i32.const 0x400) (i32.const 1)))
          (call $st (i32.const 3) (call $proxy_get_buffer_bytes (i32.const 99) (i32.const 0) (i32.const 1) (i32.const 0x100) (i32.const 0x104)))
          (call $st (i32.const 4) (call $proxy_get_buffer_bytes (i32.const 7) (i32.const 50) (i32.const 1) (i32.const 0x110) (i32.const 0x114)))
          (call $st (i32.const 5) (call $proxy_get_buffer_status (i32.const 7) (i32.const 0x118) (i32.const 0x11c)))
          (i32.const 1))
        (func (export "t") (call $read (i32.const 6)))"#,
    );
    let mut sim = plugin.sim().config(r#"{"a":1}"#).start().unwrap();
    assert_eq!(returned(&mut sim), br#"{"a":1}"#);
    assert_eq!(u32_at(&mut sim, 0x118), 7);
    sim.call_export("t", 1, &[]).unwrap();
    assert_eq!(
        slots(&mut sim, 7),
        vec![OK, OK, BAD_ARGUMENT, BAD_ARGUMENT, NOT_FOUND, OK, NOT_FOUND]
    );
    let (p, n) = (u32_at(&mut sim, 0x110), u32_at(&mut sim, 0x114));
    assert_eq!(sim.read_memory(p, n).unwrap(), b"a\"");
}

#[test]
fn on_configure_false_rejects_the_configuration() {
    let plugin =
        wat_plugin(r#"(func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 0))"#);
    assert!(matches!(
        plugin.sim().start(),
        Err(Error::ConfigureRejected { .. })
    ));
}

/// Request headers: availability, first-of-repeated, lower-casing, setCopy, and what the upstream got.
#[test]
fn header_map_calls_in_request_and_response_phases() {
    let body = r#"
        (data (i32.const 0x400) "x-a")
        (data (i32.const 0x410) "missing")
        (data (i32.const 0x420) ":status")
        (data (i32.const 0x430) "X-Added")
        (data (i32.const 0x440) "v3")
        (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
          (call $st (i32.const 0) (call $proxy_get_header_map_value (i32.const 0) (i32.const 0x400) (i32.const 3) (i32.const 0x100) (i32.const 0x104)))
          (call $st (i32.const 1) (i32.load (i32.const 0x100)))
          (call $st (i32.const 2) (i32.load (i32.const 0x104)))
          (call $st (i32.const 3) (call $proxy_get_header_map_value (i32.const 0) (i32.const 0x410) (i32.const 7) (i32.const 0x100) (i32.const 0x104)))
          (call $st (i32.const 4) (call $proxy_get_header_map_value (i32.const 2) (i32.const 0x420) (i32.const 7) (i32.const 0x100) (i32.const 0x104)))
          (call $st (i32.const 5) (call $proxy_add_header_map_value (i32.const 0) (i32.const 0x430) (i32.const 7) (i32.const 0x440) (i32.const 2)))
          (call $st (i32.const 6) (call $proxy_replace_header_map_value (i32.const 0) (i32.const 0x400) (i32.const 3) (i32.const 0x440) (i32.const 2)))
          (call $st (i32.const 7) (call $proxy_remove_header_map_value (i32.const 0) (i32.const 0x410) (i32.const 7)))
          (call $st (i32.const 8) (call $proxy_get_header_map_value (i32.const 9) (i32.const 0x400) (i32.const 3) (i32.const 0x100) (i32.const 0x104)))
          (call $st (i32.const 9) (call $proxy_get_header_map_size (i32.const 0) (i32.const 0x108)))
          (call $st (i32.const 10) (i32.load (i32.const 0x108)))
          (call $st (i32.const 11) (call $proxy_get_header_map_pairs (i32.const 2) (i32.const 0x110) (i32.const 0x114)))
          (call $st (i32.const 12) (i32.load (i32.const 0x114)))
          (call $st (i32.const 13) (call $proxy_get_header_map_size (i32.const 2) (i32.const 0x108)))
          (i32.const 0))
        (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
          (call $st (i32.const 20) (call $proxy_add_header_map_value (i32.const 0) (i32.const 0x430) (i32.const 7) (i32.const 0x440) (i32.const 2)))
          (call $st (i32.const 21) (call $proxy_get_header_map_value (i32.const 0) (i32.const 0x400) (i32.const 3) (i32.const 0x100) (i32.const 0x104)))
          (call $st (i32.const 22) (call $proxy_get_header_map_pairs (i32.const 0) (i32.const 0x110) (i32.const 0x114)))
          (call $st (i32.const 23) (i32.load (i32.const 0x114)))
          (call $st (i32.const 24) (call $proxy_get_header_map_value (i32.const 2) (i32.const 0x420) (i32.const 7) (i32.const 0x120) (i32.const 0x124)))
          (call $st (i32.const 25) (call $proxy_add_header_map_value (i32.const 2) (i32.const 0x430) (i32.const 7) (i32.const 0x440) (i32.const 2)))
          (i32.const 0))"#;
    let mut sim = wat_plugin(body).sim().start().unwrap();
    let ex = sim
        .send(
            Request::get("/a").header("x-a", "1").header("X-A", "2"),
            Response::new(201),
        )
        .unwrap();
    let s = slots(&mut sim, 26);
    // get → OK and the FIRST value of the repeated header
    assert_eq!(s[0], OK);
    assert_eq!(sim.read_memory(s[1] as u32, s[2] as u32).unwrap(), b"1");
    assert_eq!(&s[3..9], &[NOT_FOUND, BAD_ARGUMENT, OK, OK, OK, BAD_ARGUMENT]);
    // byte size of the request map at that point (keys + values)
    let expected_size: usize = [
        ":authority",
        "example.com",
        ":path",
        "/a",
        ":method",
        "GET",
        ":scheme",
        "http",
    ]
    .iter()
    .map(|s| s.len())
    .sum::<usize>()
        + "x-forwarded-proto".len()
        + 4
        + "x-request-id".len()
        + 36
        + "x-forwarded-for".len()
        + host_sim::ENVOY_LOCAL_ADDRESS.len()
        + "x-envoy-external-address".len()
        + "127.0.0.1".len()
        + "x-added".len()
        + 2
        + "x-a".len()
        + 2;
    assert_eq!((s[9], s[10] as usize), (OK, expected_size));
    // response headers are not available in the request phase: pairs empty (OK), size BAD_ARGUMENT
    assert_eq!((s[11], s[12], s[13]), (OK, 0, BAD_ARGUMENT));
    // response phase: request headers went upstream (mutation and single reads BAD_ARGUMENT, pairs empty)
    assert_eq!(&s[20..26], &[BAD_ARGUMENT, BAD_ARGUMENT, OK, 0, OK, OK]);
    let up = ex.upstream_request.unwrap();
    assert_eq!(up.headers.get_all("x-a"), vec!["v3"]);
    assert_eq!(
        up.headers.0.last().unwrap(),
        &("x-a".to_string(), "v3".to_string())
    );
    assert_eq!(up.header("x-added"), Some("v3"));
    let resp = ex.response.unwrap();
    assert_eq!((resp.status, resp.headers.get("x-added")), (201, Some("v3")));
    // ABI 0.2.1: request-header changes clear the route cache (add + replace + remove)
    assert_eq!(ex.route_cache_clears, 3);
}

#[test]
fn set_header_map_pairs_replaces_the_whole_map() {
    let map = pairs(&[
        (":method", "POST"),
        (":path", "/new"),
        (":authority", "h"),
        ("X-Only", "1"),
    ]);
    let body = format!(
        r#"(data (i32.const 0x400) "{}")
        (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
          (call $st (i32.const 0) (call $proxy_set_header_map_pairs (i32.const 0) (i32.const 0x400) (i32.const {})))
          (call $st (i32.const 1) (call $proxy_set_header_map_pairs (i32.const 0) (i32.const 0x400) (i32.const 5)))
          (i32.const 0))"#,
        wat_bytes(&map),
        map.len()
    );
    let mut sim = wat_plugin(&body).sim().start().unwrap();
    let ex = sim
        .send(Request::get("/old").header("x-gone", "1"), Response::ok())
        .unwrap();
    assert_eq!(slots(&mut sim, 2), vec![OK, BAD_ARGUMENT]);
    let up = ex.upstream_request.unwrap();
    assert_eq!((up.method.as_str(), up.path.as_str()), ("POST", "/new"));
    assert_eq!(
        up.headers.0,
        vec![
            (":authority".to_string(), "h".to_string()),
            ("x-only".to_string(), "1".to_string())
        ]
    );
}

/// Body buffering: body_size is the total buffered; set_buffer_bytes supports prepend/replace/append only.
#[test]
fn body_buffer_calls() {
    let body = r#"
        (data (i32.const 0x400) "<>X")
        (global $calls (mut i32) (i32.const 0))
        (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
          (call $st (i32.add (i32.const 10) (global.get $calls)) (local.get $size))
          (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
          (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
          (call $st (i32.const 0) (call $proxy_get_buffer_bytes (i32.const 0) (i32.const 0) (i32.const 100) (i32.const 0x100) (i32.const 0x104)))
          (call $st (i32.const 1) (call $proxy_set_buffer_bytes (i32.const 0) (i32.const 1) (i32.const 1) (i32.const 0x402) (i32.const 1)))
          (call $st (i32.const 2) (call $proxy_set_buffer_bytes (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0x400) (i32.const 1)))
          (call $st (i32.const 3) (call $proxy_set_buffer_bytes (i32.const 0) (i32.const 100) (i32.const 0) (i32.const 0x401) (i32.const 1)))
          (call $st (i32.const 4) (call $proxy_get_buffer_status (i32.const 0) (i32.const 0x108) (i32.const 0x10c)))
          (call $st (i32.const 5) (i32.load (i32.const 0x108)))
          (call $st (i32.const 6) (call $proxy_get_buffer_bytes (i32.const 1) (i32.const 0) (i32.const 100) (i32.const 0x110) (i32.const 0x114)))
          (call $st (i32.const 7) (call $proxy_get_buffer_bytes (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 0x110) (i32.const 0x114)))
          (call $st (i32.const 8) (call $proxy_set_buffer_bytes (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0x400) (i32.const 1)))
          (i32.const 0))"#;
    let mut sim = wat_plugin(body).sim().start().unwrap();
    let ex = sim
        .send(Request::post("/").body_chunks(["he", "l", "lo"]), Response::ok())
        .unwrap();
    let s = slots(&mut sim, 13);
    assert_eq!(
        &s[0..9],
        &[
            OK,
            BAD_ARGUMENT,
            OK,
            OK,
            OK,
            7,
            NOT_FOUND,
            NOT_FOUND,
            BAD_ARGUMENT
        ]
    );
    assert_eq!(&s[10..13], &[2, 3, 5], "body_size is the total buffered so far");
    assert_eq!(returned(&mut sim), b"hello");
    assert_eq!(ex.upstream_request.unwrap().body, b"<hello>");
}

/// set_buffer_bytes(HTTP_REQUEST_BODY) from on_request_headers is BAD_ARGUMENT, with or without a request
/// body, as measured on Envoy 1.40 with a probe filter. Reading it is NOT_FOUND: host-sim's rule for an
/// empty read, not measured against Envoy.
#[test]
fn request_body_is_not_settable_from_request_headers() {
    let body = r#"
        (data (i32.const 0x400) "injected")
        (global $calls (mut i32) (i32.const 0))
        (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
          (call $st (i32.mul (i32.const 2) (global.get $calls))
            (call $proxy_set_buffer_bytes (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0x400) (i32.const 8)))
          (call $st (i32.add (i32.const 1) (i32.mul (i32.const 2) (global.get $calls)))
            (call $proxy_get_buffer_bytes (i32.const 0) (i32.const 0) (i32.const 100) (i32.const 0x100) (i32.const 0x104)))
          (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
          (i32.const 0))"#;
    let mut sim = wat_plugin(body).sim().start().unwrap();
    let get = sim.send(Request::get("/"), Response::ok()).unwrap();
    let post = sim
        .send(Request::post("/").body("payload"), Response::ok())
        .unwrap();
    assert_eq!(
        slots(&mut sim, 4),
        vec![BAD_ARGUMENT, NOT_FOUND, BAD_ARGUMENT, NOT_FOUND]
    );
    assert_eq!(get.upstream_request.unwrap().body, b"");
    assert_eq!(post.upstream_request.unwrap().body, b"payload");
}

#[test]
fn stream_control_statuses_and_a_local_reply_seen_by_the_response_callbacks() {
    let body = r#"
        (data (i32.const 0x400) "denied")
        (data (i32.const 0x410) "no_access")
        (data (i32.const 0x420) "DENY")
        (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
          (call $st (i32.const 0) (call $proxy_continue_stream (i32.const 3)))
          (call $st (i32.const 1) (call $proxy_continue_stream (i32.const 9)))
          (call $st (i32.const 2) (call $proxy_close_stream (i32.const 9)))
          (call $st (i32.const 3) (call $proxy_continue_stream (i32.const 2)))
          (call $st (i32.const 4) (call $proxy_send_local_response (i32.const 403) (i32.const 0x410) (i32.const 9)
             (i32.const 0x400) (i32.const 6) (i32.const 0x440) (i32.const HLEN) (i32.const -1)))
          (i32.const 1))
        (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
          (call $st (i32.const 5) (i32.add (i32.load (i32.const 20)) (i32.const 1)))
          (call $st (i32.const 6) (call $proxy_get_header_map_value (i32.const 2) (i32.const 0x420) (i32.const 4) (i32.const 0x100) (i32.const 0x104)))
          (i32.const 0))
        (func (export "t")
          (call $st (i32.const 7) (call $proxy_send_local_response (i32.const 500) (i32.const 0) (i32.const 0)
             (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const -1))))"#;
    let h = pairs(&[("X-Deny", "1"), ("deny", "yes")]);
    let body = body.replace("HLEN", &h.len().to_string())
        + &format!(r#"(data (i32.const 0x440) "{}")"#, wat_bytes(&h));
    let mut sim = wat_plugin(&body).sim().start().unwrap();
    let ex = sim.send(Request::get("/"), Response::ok()).unwrap();
    assert!(ex.local_reply);
    assert!(ex.upstream_request.is_none());
    let s = slots(&mut sim, 7);
    assert_eq!(&s[0..5], &[UNIMPLEMENTED, BAD_ARGUMENT, BAD_ARGUMENT, OK, OK]);
    assert_eq!(s[5], 1, "on_response_headers ran once, for the local reply");
    assert_eq!(s[6], OK);
    assert_eq!(returned(&mut sim), b"yes");
    let r = ex.response.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (403, b"denied".as_slice()));
    assert_eq!(
        r.headers.0,
        vec![
            ("x-deny".into(), "1".into()),
            ("deny".into(), "yes".into()),
            ("content-length".into(), "6".into()),
            ("content-type".into(), "text/plain".into())
        ]
    );
    assert_eq!(ex.response_code_details.as_deref(), Some("no_access"));
    // From the root context there is no stream: OK, nothing happens.
    sim.call_export("t", 1, &[]).unwrap();
    assert_eq!(slots(&mut sim, 8)[7], OK);
}

#[test]
fn http_call_validation_and_response_delivery() {
    let good = pairs(&[(":method", "GET"), (":path", "/check"), (":authority", "authz")]);
    let no_path = pairs(&[(":method", "GET"), (":authority", "authz")]);
    let body = format!(
        r#"(data (i32.const 0x400) "authz")
        (data (i32.const 0x410) "other")
        (data (i32.const 0x420) "{}")
        (data (i32.const 0x500) "{}")
        (data (i32.const 0x5f0) ":status")
        (func $call (param $cluster i32) (param $h i32) (param $hl i32) (param $timeout i32) (result i32)
          (call $proxy_http_call (local.get $cluster) (i32.const 5) (local.get $h) (local.get $hl)
            (i32.const 0x400) (i32.const 2) (i32.const 0) (i32.const 0) (local.get $timeout) (i32.const 0x108)))
        (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
          (call $st (i32.const 12) (local.get 0))
          (call $st (i32.const 0) (call $call (i32.const 0x400) (i32.const 0x500) (i32.const {}) (i32.const 1000)))
          (call $st (i32.const 1) (call $call (i32.const 0x400) (i32.const 0x420) (i32.const {}) (i32.const -1)))
          (call $st (i32.const 2) (call $call (i32.const 0x410) (i32.const 0x420) (i32.const {}) (i32.const 1000)))
          (call $st (i32.const 3) (call $call (i32.const 0x400) (i32.const 0x420) (i32.const {}) (i32.const 1000)))
          (call $st (i32.const 4) (i32.load (i32.const 0x108)))
          (i32.const 1))
        (func (export "proxy_on_http_call_response") (param $ctx i32) (param $token i32) (param $nh i32) (param $body i32) (param $nt i32)
          (call $st (i32.const 5) (local.get $token))
          (call $st (i32.const 6) (local.get $nh))
          (call $st (i32.const 7) (local.get $body))
          (call $st (i32.const 8) (call $proxy_get_header_map_value (i32.const 6) (i32.const 0x5f0) (i32.const 7) (i32.const 0x100) (i32.const 0x104)))
          (call $st (i32.const 9) (call $proxy_get_buffer_bytes (i32.const 4) (i32.const 0) (i32.const 100) (i32.const 0x110) (i32.const 0x114)))
          (call $st (i32.const 13) (local.get $ctx))
          ;; The response goes to the root context, which owns the call: the guest finds its stream itself.
          (call $st (i32.const 10) (call $proxy_set_effective_context (i32.load (i32.const 48))))
          (call $st (i32.const 11) (call $proxy_continue_stream (i32.const 0))))"#,
        wat_bytes(&good),
        wat_bytes(&no_path),
        no_path.len(),
        good.len(),
        good.len(),
        good.len()
    );
    let mut sim = wat_plugin(&body).sim().clusters(["authz"]).start().unwrap();
    let id = sim.begin(Request::get("/")).unwrap();
    assert!(matches!(
        sim.stream_state(id).unwrap(),
        host_sim::StreamState::Stalled(_)
    ));
    let calls = sim.pending_http_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].cluster, "authz");
    assert_eq!(
        calls[0].headers.get("content-length"),
        Some("2"),
        "Envoy sets content-length for a body"
    );
    let s = slots(&mut sim, 5);
    assert_eq!(&s[0..4], &[BAD_ARGUMENT, BAD_ARGUMENT, BAD_ARGUMENT, OK]);
    let token = s[4] as u32;
    sim.answer_http_call(token, HttpCallReply::Response(Response::ok().body("fine")))
        .unwrap();
    let s = slots(&mut sim, 14);
    assert_eq!(&s[5..12], &[token as i32, 1, 4, OK, OK, OK, OK]);
    // cpp-host `http_call` dispatches on `contextOrEffectiveContext()->root_context()`: the answer is
    // delivered to the root context (id 1), not to the stream that made the call.
    assert_eq!((s[12], s[13]), (id as i32, 1));
    assert_eq!(returned(&mut sim), b"200");
    assert!(matches!(
        sim.stream_state(id).unwrap(),
        host_sim::StreamState::AwaitingUpstream(_)
    ));
}

#[test]
fn http_call_failure_and_timeout() {
    let good = pairs(&[(":method", "GET"), (":path", "/x"), (":authority", "a")]);
    let body = format!(
        r#"(data (i32.const 0x400) "{}")
        (data (i32.const 0x480) "c")
        (func (export "t") (param i32) (result i32)
          (call $proxy_http_call (i32.const 0x480) (i32.const 1) (i32.const 0x400) (i32.const {})
            (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (local.get 0) (i32.const 0x108)))
        (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
          (call $st (i32.const 0) (local.get 2))
          (call $st (i32.const 1) (call $proxy_get_status (i32.const 0x10c) (i32.const 0x100) (i32.const 0x104)))
          (call $st (i32.const 2) (i32.load (i32.const 0x10c)))
          (call $st (i32.const 3) (local.get 3)))"#,
        wat_bytes(&good),
        good.len()
    );
    let mut sim = wat_plugin(&body).sim().start().unwrap();
    assert_eq!(sim.call_export("t", 1, &[500]).unwrap(), vec![0]);
    let token = u32_at(&mut sim, 0x108);
    sim.answer_http_call(token, HttpCallReply::Fail).unwrap();
    assert_eq!(slots(&mut sim, 3), vec![0, OK, 11]);
    assert_eq!(returned(&mut sim), b"reset");
    // A timeout is answered by Envoy with a 504 when time passes it.
    sim.call_export("t", 1, &[500]).unwrap();
    sim.advance(std::time::Duration::from_millis(499)).unwrap();
    assert_eq!(sim.pending_http_calls().len(), 1);
    sim.advance(std::time::Duration::from_millis(1)).unwrap();
    assert!(sim.pending_http_calls().is_empty());
    assert_eq!(slots(&mut sim, 4)[3], 24, "504 body 'upstream request timeout'");
}

#[test]
fn shared_data_and_queues() {
    let body = r#"
        (data (i32.const 0x400) "key")
        (data (i32.const 0x410) "v1v2")
        (data (i32.const 0x420) "q")
        (func (export "t")
          (call $st (i32.const 0) (call $proxy_get_shared_data (i32.const 0x400) (i32.const 3) (i32.const 0x100) (i32.const 0x104) (i32.const 0x108)))
          (call $st (i32.const 1) (call $proxy_set_shared_data (i32.const 0x400) (i32.const 3) (i32.const 0x410) (i32.const 2) (i32.const 0)))
          (call $st (i32.const 2) (call $proxy_get_shared_data (i32.const 0x400) (i32.const 3) (i32.const 0x100) (i32.const 0x104) (i32.const 0x108)))
          (call $st (i32.const 3) (call $proxy_set_shared_data (i32.const 0x400) (i32.const 3) (i32.const 0x412) (i32.const 2)
              (i32.add (i32.load (i32.const 0x108)) (i32.const 1))))
          (call $st (i32.const 4) (call $proxy_set_shared_data (i32.const 0x400) (i32.const 3) (i32.const 0x412) (i32.const 2)
              (i32.load (i32.const 0x108))))
          (call $st (i32.const 5) (call $proxy_resolve_shared_queue (i32.const 0) (i32.const 0) (i32.const 0x420) (i32.const 1) (i32.const 0x10c)))
          (call $st (i32.const 6) (call $proxy_register_shared_queue (i32.const 0x420) (i32.const 1) (i32.const 0x10c)))
          (call $st (i32.const 7) (call $proxy_dequeue_shared_queue (i32.load (i32.const 0x10c)) (i32.const 0x110) (i32.const 0x114)))
          (call $st (i32.const 8) (call $proxy_enqueue_shared_queue (i32.load (i32.const 0x10c)) (i32.const 0x410) (i32.const 2)))
          (call $st (i32.const 9) (call $proxy_enqueue_shared_queue (i32.const 77) (i32.const 0x410) (i32.const 2)))
          (call $st (i32.const 10) (call $proxy_dequeue_shared_queue (i32.const 77) (i32.const 0x110) (i32.const 0x114)))
          (call $st (i32.const 11) (call $proxy_resolve_shared_queue (i32.const 0) (i32.const 0) (i32.const 0x420) (i32.const 1) (i32.const 0x118))))
        (func (export "proxy_on_queue_ready") (param i32 i32)
          (call $st (i32.const 12) (local.get 1))
          (call $st (i32.const 13) (call $proxy_dequeue_shared_queue (local.get 1) (i32.const 0x100) (i32.const 0x104))))"#;
    let mut sim = wat_plugin(body).sim().start().unwrap();
    sim.call_export("t", 1, &[]).unwrap();
    let s = slots(&mut sim, 14);
    assert_eq!(
        &s[0..12],
        &[
            NOT_FOUND,
            OK,
            OK,
            CAS_MISMATCH,
            OK,
            NOT_FOUND,
            OK,
            EMPTY,
            OK,
            NOT_FOUND,
            NOT_FOUND,
            OK
        ]
    );
    let (value, _) = sim.shared_data("key").unwrap();
    assert_eq!(value, b"v2");
    // the enqueue woke the registering (root) context after the call
    assert_eq!((s[12], s[13]), (u32_at(&mut sim, 0x10c) as i32, OK));
    assert_eq!(returned(&mut sim), b"v1");
    sim.enqueue("q", b"from-test").unwrap();
    assert_eq!(returned(&mut sim), b"from-test");
}

#[test]
fn metrics_follow_envoy_rules() {
    let body = r#"
        (data (i32.const 0x400) "c")
        (data (i32.const 0x401) "g")
        (data (i32.const 0x402) "h")
        (func (export "t")
          (call $st (i32.const 0) (call $proxy_define_metric (i32.const 0) (i32.const 0x400) (i32.const 1) (i32.const 0x100)))
          (call $st (i32.const 1) (call $proxy_define_metric (i32.const 1) (i32.const 0x401) (i32.const 1) (i32.const 0x104)))
          (call $st (i32.const 2) (call $proxy_define_metric (i32.const 2) (i32.const 0x402) (i32.const 1) (i32.const 0x108)))
          (call $st (i32.const 3) (call $proxy_define_metric (i32.const 3) (i32.const 0x402) (i32.const 1) (i32.const 0x10c)))
          (call $st (i32.const 4) (call $proxy_increment_metric (i32.load (i32.const 0x100)) (i64.const 0)))
          (call $st (i32.const 5) (call $proxy_increment_metric (i32.load (i32.const 0x100)) (i64.const -1)))
          (call $st (i32.const 6) (call $proxy_increment_metric (i32.load (i32.const 0x100)) (i64.const 5)))
          (call $st (i32.const 7) (call $proxy_record_metric (i32.load (i32.const 0x100)) (i64.const 2)))
          (call $st (i32.const 8) (call $proxy_increment_metric (i32.load (i32.const 0x104)) (i64.const -3)))
          (call $st (i32.const 9) (call $proxy_record_metric (i32.load (i32.const 0x104)) (i64.const 10)))
          (call $st (i32.const 10) (call $proxy_increment_metric (i32.load (i32.const 0x104)) (i64.const -4)))
          (call $st (i32.const 11) (call $proxy_increment_metric (i32.load (i32.const 0x108)) (i64.const 1)))
          (call $st (i32.const 12) (call $proxy_record_metric (i32.load (i32.const 0x108)) (i64.const 42)))
          (call $st (i32.const 13) (call $proxy_get_metric (i32.load (i32.const 0x108)) (i32.const 0x110)))
          (call $st (i32.const 14) (call $proxy_get_metric (i32.load (i32.const 0x100)) (i32.const 0x110)))
          (call $st (i32.const 15) (i32.load (i32.const 0x110)))
          (call $st (i32.const 16) (call $proxy_record_metric (i32.const 400) (i64.const 1)))
          (call $st (i32.const 17) (call $proxy_increment_metric (i32.const 400) (i64.const 1)))
          (call $st (i32.const 18) (i32.and (i32.load (i32.const 0x100)) (i32.const 3)))
          (call $st (i32.const 19) (i32.and (i32.load (i32.const 0x104)) (i32.const 3)))
          (call $st (i32.const 20) (i32.and (i32.load (i32.const 0x108)) (i32.const 3))))"#;
    let mut sim = wat_plugin(body).sim().start().unwrap();
    sim.call_export("t", 1, &[]).unwrap();
    let s = slots(&mut sim, 21);
    assert_eq!(
        s,
        vec![
            OK,
            OK,
            OK,
            BAD_ARGUMENT,
            BAD_ARGUMENT,
            BAD_ARGUMENT,
            OK,
            OK,
            OK,
            OK,
            OK,
            BAD_ARGUMENT,
            OK,
            BAD_ARGUMENT,
            OK,
            7,
            NOT_FOUND,
            NOT_FOUND,
            0,
            1,
            2
        ]
    );
    assert_eq!(sim.metric("c"), Some(7));
    assert_eq!(sim.metric("g"), Some(6));
    assert_eq!(sim.metrics()["h"], host_sim::MetricValue::Histogram(vec![42]));
}

#[test]
fn properties_need_a_stream_to_be_set_and_read_back_by_name() {
    let body = r#"
        (data (i32.const 0x400) "my.key")
        (data (i32.const 0x410) "value")
        (data (i32.const 0x420) "plugin_name")
        (data (i32.const 0x430) "request\00path")
        (data (i32.const 0x440) "response\00code")
        (data (i32.const 0x450) "nope")
        (func (export "t")
          (call $st (i32.const 0) (call $proxy_set_property (i32.const 0x400) (i32.const 6) (i32.const 0x410) (i32.const 5)))
          (call $st (i32.const 1) (call $proxy_get_property (i32.const 0x420) (i32.const 11) (i32.const 0x100) (i32.const 0x104)))
          (call $st (i32.const 2) (call $proxy_get_property (i32.const 0x430) (i32.const 12) (i32.const 0x100) (i32.const 0x104))))
        (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
          (call $st (i32.const 3) (call $proxy_set_property (i32.const 0x400) (i32.const 6) (i32.const 0x410) (i32.const 5)))
          (call $st (i32.const 4) (call $proxy_get_property (i32.const 0x400) (i32.const 6) (i32.const 0x110) (i32.const 0x114)))
          (call $st (i32.const 5) (call $proxy_get_property (i32.const 0x430) (i32.const 12) (i32.const 0x100) (i32.const 0x104)))
          (call $st (i32.const 6) (call $proxy_get_property (i32.const 0x450) (i32.const 4) (i32.const 0x118) (i32.const 0x11c)))
          (call $st (i32.const 7) (call $proxy_get_property (i32.const 0x440) (i32.const 13) (i32.const 0x118) (i32.const 0x11c)))
          (i32.const 0))
        (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
          (call $st (i32.const 8) (call $proxy_get_property (i32.const 0x440) (i32.const 13) (i32.const 0x118) (i32.const 0x11c)))
          (call $st (i32.const 9) (i32.load (i32.load (i32.const 0x118))))
          (i32.const 0))"#;
    let mut sim = wat_plugin(body).sim().plugin_name("my-plugin").start().unwrap();
    sim.call_export("t", 1, &[]).unwrap();
    let s = slots(&mut sim, 3);
    assert_eq!(
        s,
        vec![NOT_FOUND, OK, NOT_FOUND],
        "set_property from the root context is NOT_FOUND"
    );
    assert_eq!(returned(&mut sim), b"my-plugin");
    let ex = sim.send(Request::get("/p?q=1"), Response::new(418)).unwrap();
    let s = slots(&mut sim, 10);
    assert_eq!(&s[3..10], &[OK, OK, OK, NOT_FOUND, NOT_FOUND, OK, 418]);
    assert_eq!(returned(&mut sim), b"/p?q=1");
    let (p, n) = (u32_at(&mut sim, 0x110), u32_at(&mut sim, 0x114));
    assert_eq!(sim.read_memory(p, n).unwrap(), b"value");
    assert_eq!(ex.property("my.key").as_deref(), Some("value"));
}

#[test]
fn foreign_functions_and_grpc_statuses() {
    let body = r#"
        (data (i32.const 0x400) "clear_route_cache")
        (data (i32.const 0x420) "nope")
        (data (i32.const 0x430) "grpc-cluster")
        (func (export "t")
          (call $st (i32.const 0) (call $proxy_call_foreign_function (i32.const 0x400) (i32.const 17) (i32.const 0) (i32.const 0) (i32.const 0x100) (i32.const 0x104)))
          (call $st (i32.const 1) (call $proxy_call_foreign_function (i32.const 0x420) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 0x100) (i32.const 0x104)))
          (call $st (i32.const 2) (call $proxy_grpc_call (i32.const 0x430) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
              (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 100) (i32.const 0x108)))
          (call $st (i32.const 3) (call $proxy_grpc_call (i32.const 0x430) (i32.const 12) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
              (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 100) (i32.const 0x108)))
          (call $st (i32.const 4) (call $proxy_grpc_send (i32.load (i32.const 0x108)) (i32.const 0) (i32.const 0) (i32.const 0)))
          (call $st (i32.const 5) (call $proxy_grpc_cancel (i32.load (i32.const 0x108))))
          (call $st (i32.const 6) (call $proxy_grpc_cancel (i32.load (i32.const 0x108))))
          (call $st (i32.const 7) (call $proxy_grpc_stream (i32.const 0x430) (i32.const 12) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
              (i32.const 0) (i32.const 0) (i32.const 0x10c)))
          (call $st (i32.const 8) (call $proxy_grpc_send (i32.load (i32.const 0x10c)) (i32.const 0) (i32.const 0) (i32.const 1)))
          (call $st (i32.const 9) (call $proxy_grpc_close (i32.load (i32.const 0x10c)))))"#;
    let mut sim = wat_plugin(body).sim().clusters(["grpc-cluster"]).start().unwrap();
    sim.call_export("t", 1, &[]).unwrap();
    assert_eq!(
        slots(&mut sim, 10),
        vec![
            OK,
            NOT_FOUND,
            PARSE_FAILURE,
            OK,
            BAD_ARGUMENT,
            OK,
            NOT_FOUND,
            OK,
            OK,
            OK
        ]
    );
}

#[test]
fn wasi_stdout_environment_random_and_clock() {
    let imports = r#"
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "environ_get" (func $env_get (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))"#;
    let body = r#"
        (data (i32.const 0x400) "to stdout\n")
        (data (i32.const 0x420) "\00\04\00\00\0a\00\00\00")
        (func (export "t")
          (call $st (i32.const 0) (call $fd_write (i32.const 1) (i32.const 0x420) (i32.const 1) (i32.const 0x100)))
          (call $st (i32.const 1) (call $fd_write (i32.const 2) (i32.const 0x420) (i32.const 1) (i32.const 0x100)))
          (call $st (i32.const 2) (call $fd_write (i32.const 5) (i32.const 0x420) (i32.const 1) (i32.const 0x100)))
          (call $st (i32.const 3) (call $env_sizes (i32.const 0x104) (i32.const 0x108)))
          (call $st (i32.const 4) (call $env_get (i32.const 0x110) (i32.const 0x600)))
          (call $st (i32.const 5) (call $random (i32.const 0x700) (i32.const 16)))
          (call $st (i32.const 6) (call $clock (i32.const 0) (i64.const 1) (i32.const 0x118)))
          (call $st (i32.const 7) (call $fd_read (i32.const 0) (i32.const 0x420) (i32.const 1) (i32.const 0x100)))
          (call $st (i32.const 8) (call $random (i32.const 0x1fff0) (i32.const 100))))
        (func (export "bye") (call $exit (i32.const 3)))"#;
    let plugin = Plugin::from_bytes(&wat_module(imports, body)).unwrap();
    let mut sim = plugin.sim().env("ISTIO_META_X", "1").start().unwrap();
    sim.call_export("t", 1, &[]).unwrap();
    assert_eq!(slots(&mut sim, 9), vec![0, 0, 8, 0, 0, 0, 0, 76, 21]);
    assert_eq!(sim.logs_at(LogLevel::Info), vec!["to stdout"]);
    assert_eq!(sim.logs_at(LogLevel::Error), vec!["to stdout"]);
    assert_eq!((u32_at(&mut sim, 0x104), u32_at(&mut sim, 0x108)), (1, 15));
    assert_eq!(sim.read_memory(0x600, 15).unwrap(), b"ISTIO_META_X=1\0");
    let t = u64::from_le_bytes(sim.read_memory(0x118, 8).unwrap().try_into().unwrap());
    assert_eq!(t, DEFAULT_START_TIME_SECS * 1_000_000_000);
    let err = sim.call_export("bye", 1, &[]).unwrap_err();
    assert!(err.to_string().contains("proc_exit(3)"), "{err}");
    assert!(
        matches!(sim.call_export("t", 1, &[]), Err(Error::VmFailed(_))),
        "a trapped VM stays failed"
    );
}

#[test]
fn a_runaway_guest_is_interrupted() {
    let plugin = wat_plugin(
        r#"(func (export "proxy_on_configure") (param i32 i32) (result i32) (loop $l (br $l)) (i32.const 1))"#,
    );
    let start = std::time::Instant::now();
    match plugin
        .sim()
        .time_limit(std::time::Duration::from_millis(100))
        .start()
    {
        Err(Error::Trap {
            callback, message, ..
        }) => {
            assert_eq!(callback, "proxy_on_configure");
            assert!(message.contains("time limit"), "{message}");
        }
        Err(e) => panic!("expected a trap, got {e}"),
        Ok(_) => panic!("expected a trap, got a VM"),
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn out_of_bounds_guest_pointers_are_invalid_memory_access_not_host_panics() {
    let body = r#"
        (func (export "t")
          (call $st (i32.const 0) (call $proxy_get_header_map_pairs (i32.const 0) (i32.const -8) (i32.const 0x104)))
          (call $st (i32.const 1) (call $proxy_set_property (i32.const -1) (i32.const 8) (i32.const 0) (i32.const 0)))
          (call $st (i32.const 2) (call $proxy_get_current_time_nanoseconds (i32.const 0x1fffc)))
          (call $st (i32.const 3) (call $proxy_define_metric (i32.const 0) (i32.const 0x1ffff) (i32.const 2) (i32.const 0x100))))"#;
    let mut sim = wat_plugin(body).sim().start().unwrap();
    sim.call_export("t", 1, &[]).unwrap();
    assert_eq!(slots(&mut sim, 4), vec![INVALID_MEMORY_ACCESS; 4]);
}

#[test]
fn close_stream_resets_and_a_late_local_reply_resets_too() {
    let body = r#"
        (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
          (call $st (i32.const 0) (call $proxy_close_stream (i32.const 0)))
          (i32.const 1))"#;
    let mut sim = wat_plugin(body).sim().start().unwrap();
    let ex = sim.send(Request::get("/"), Response::ok()).unwrap();
    assert!(ex.reset && ex.response.is_none() && ex.upstream_request.is_none());
    assert_eq!(ex.response_code_details.as_deref(), Some("wasm_close_stream"));
    assert_eq!(ex.status(), 0);

    // A local reply from the response body, after the response headers went to the client: Envoy resets.
    let body = r#"
        (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32)
          (call $st (i32.const 0) (call $proxy_send_local_response (i32.const 500) (i32.const 0) (i32.const 0)
             (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const -1)))
          (i32.const 0))"#;
    let mut sim = wat_plugin(body).sim().start().unwrap();
    let ex = sim.send(Request::get("/"), Response::ok().body("x")).unwrap();
    assert_eq!(slots(&mut sim, 1), vec![OK]);
    assert!(ex.reset);
    assert!(ex.upstream_request.is_some());
}

/// Envoy runs the start functions with restricted callbacks (proxy-wasm cpp-host `WasmBase::startVm`,
/// `src/wasm.cc` at f2db56af443571e92a31c0b877106d9ea96e19ef, Envoy's 1.40 pin): any host function
/// but `env.proxy_log` and a list of WASI functions traps with `restricted_callback`, and the VM fails to
/// load. A start function that calls `proxy_get_log_level` must fail here too.
#[test]
fn start_functions_may_call_only_proxy_log_and_some_wasi_functions() {
    fn start(body: &str) -> Result<host_sim::Sim, Error> {
        wat_plugin(body).sim().start()
    }
    fn assert_restricted(r: Result<host_sim::Sim, Error>, in_callback: &str, function: &str) {
        match r {
            Err(
                ref e @ Error::Trap {
                    ref callback,
                    ref message,
                    ..
                },
            ) => {
                assert_eq!(callback, in_callback);
                assert!(message.contains("restricted_callback"), "{message}");
                assert!(message.contains(function), "{message}");
                assert!(e.to_string().contains("restricted_callback"), "{e}");
            }
            Err(e) => panic!("expected a restricted_callback trap in {in_callback}, got {e:?}"),
            Ok(_) => panic!("expected a restricted_callback trap in {in_callback}, the VM started"),
        }
    }

    // `_initialize` calling proxy_get_log_level: the VM does not start (Envoy: "Function: _initialize
    // failed: Uncaught Error: restricted_callback", "Failed to initialize Wasm code").
    assert_restricted(
        start(
            r#"(func (export "_initialize")
                 (drop (call $proxy_get_log_level (i32.const 0x100))))"#,
        ),
        "_initialize",
        "env.proxy_get_log_level",
    );

    // proxy_log is allowed there; after start the same call is an ordinary host call again.
    let mut sim = start(
        r#"(data (i32.const 0x400) "initialising")
        (func (export "_initialize")
          (call $st (i32.const 0) (call $proxy_log (i32.const 2) (i32.const 0x400) (i32.const 12))))
        (func (export "t")
          (call $st (i32.const 1) (call $proxy_get_log_level (i32.const 0x100))))"#,
    )
    .expect("proxy_log is allowed during _initialize");
    assert_eq!(sim.logs_at(LogLevel::Info), vec!["initialising"]);
    sim.call_export("t", 1, &[]).unwrap();
    assert_eq!(slots(&mut sim, 2), vec![OK, OK]);
    assert_eq!(u32_at(&mut sim, 0x100), LogLevel::Trace as u32);

    // The other start functions are restricted too: `main` (or `__main_void`) after `_initialize`, and
    // `_start` when there is no `_initialize`.
    assert_restricted(
        start(
            r#"(func (export "_initialize"))
            (func (export "main") (param i32 i32) (result i32)
              (call $proxy_set_tick_period_milliseconds (i32.const 100)))"#,
        ),
        "main",
        "env.proxy_set_tick_period_milliseconds",
    );
    assert_restricted(
        start(
            r#"(func (export "_initialize"))
            (func (export "__main_void") (result i32)
              (call $proxy_get_current_time_nanoseconds (i32.const 0x100)))"#,
        ),
        "__main_void",
        "env.proxy_get_current_time_nanoseconds",
    );
    assert_restricted(
        start(r#"(func (export "_start") (drop (call $proxy_done)))"#),
        "_start",
        "env.proxy_done",
    );
    // Restricted calls in proxy_on_vm_start / proxy_on_configure are fine (they run after the start
    // functions, with the root context).
    let sim = start(
        r#"(func (export "_initialize"))
        (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
          (call $st (i32.const 0) (call $proxy_get_log_level (i32.const 0x100))) (i32.const 1))
        (func (export "proxy_on_configure") (param i32 i32) (result i32)
          (call $st (i32.const 1) (call $proxy_set_tick_period_milliseconds (i32.const 100))) (i32.const 1))"#,
    );
    let mut sim = sim.expect("restricted callbacks end with the start functions");
    assert_eq!(slots(&mut sim, 2), vec![OK, OK]);
}

/// Every host function host-sim links, called from `_initialize`: refused exactly when it is outside
/// cpp-host's start allow-list (written out here from `WasmBase::startVm` at f2db56af, with the
/// `wasi_snapshot_preview1` names only: host-sim provides no `wasi_unstable` module nor
/// `env.emscripten_notify_memory_growth`).
#[test]
fn the_start_allow_list_is_cpp_hosts() {
    const ALLOWED: &[&str] = &[
        "env.proxy_log",
        "wasi_snapshot_preview1.fd_write",
        "wasi_snapshot_preview1.args_sizes_get",
        "wasi_snapshot_preview1.args_get",
        "wasi_snapshot_preview1.environ_sizes_get",
        "wasi_snapshot_preview1.environ_get",
        "wasi_snapshot_preview1.clock_time_get",
        "wasi_snapshot_preview1.clock_res_get",
        "wasi_snapshot_preview1.random_get",
        "wasi_snapshot_preview1.poll_oneoff",
        "wasi_snapshot_preview1.fd_fdstat_get",
        "wasi_snapshot_preview1.fd_fdstat_set_flags",
        "wasi_snapshot_preview1.fd_advise",
        "wasi_snapshot_preview1.fd_allocate",
        "wasi_snapshot_preview1.fd_datasync",
        "wasi_snapshot_preview1.fd_fdstat_set_rights",
        "wasi_snapshot_preview1.fd_filestat_get",
        "wasi_snapshot_preview1.fd_filestat_set_size",
        "wasi_snapshot_preview1.fd_filestat_set_times",
        "wasi_snapshot_preview1.fd_pread",
        "wasi_snapshot_preview1.fd_prestat_dir_name",
        "wasi_snapshot_preview1.fd_prestat_get",
        "wasi_snapshot_preview1.fd_pwrite",
        "wasi_snapshot_preview1.fd_readdir",
        "wasi_snapshot_preview1.fd_renumber",
        "wasi_snapshot_preview1.fd_sync",
        "wasi_snapshot_preview1.fd_tell",
        "wasi_snapshot_preview1.path_create_directory",
        "wasi_snapshot_preview1.path_filestat_get",
        "wasi_snapshot_preview1.path_filestat_set_times",
        "wasi_snapshot_preview1.path_link",
        "wasi_snapshot_preview1.path_readlink",
        "wasi_snapshot_preview1.path_remove_directory",
        "wasi_snapshot_preview1.path_rename",
        "wasi_snapshot_preview1.path_symlink",
        "wasi_snapshot_preview1.path_unlink_file",
        "wasi_snapshot_preview1.sock_accept",
        "wasi_snapshot_preview1.sock_recv",
        "wasi_snapshot_preview1.sock_send",
        "wasi_snapshot_preview1.sock_shutdown",
    ];
    // Every WASI preview-1 function host-sim links, with its parameters (`I` = i64); all but proc_exit
    // return an errno.
    const WASI: &[(&str, &str)] = &[
        ("args_get", "ii"),
        ("args_sizes_get", "ii"),
        ("environ_get", "ii"),
        ("environ_sizes_get", "ii"),
        ("clock_res_get", "ii"),
        ("clock_time_get", "iIi"),
        ("random_get", "ii"),
        ("fd_write", "iiii"),
        ("fd_fdstat_get", "ii"),
        ("fd_prestat_get", "ii"),
        ("sched_yield", ""),
        ("proc_exit", "i"),
        ("fd_advise", "iIIi"),
        ("fd_allocate", "iII"),
        ("fd_close", "i"),
        ("fd_datasync", "i"),
        ("fd_fdstat_set_flags", "ii"),
        ("fd_fdstat_set_rights", "iII"),
        ("fd_filestat_get", "ii"),
        ("fd_filestat_set_size", "iI"),
        ("fd_filestat_set_times", "iIIi"),
        ("fd_pread", "iiiIi"),
        ("fd_prestat_dir_name", "iii"),
        ("fd_pwrite", "iiiIi"),
        ("fd_read", "iiii"),
        ("fd_readdir", "iiiIi"),
        ("fd_renumber", "ii"),
        ("fd_seek", "iIii"),
        ("fd_sync", "i"),
        ("fd_tell", "ii"),
        ("path_create_directory", "iii"),
        ("path_filestat_get", "iiiii"),
        ("path_filestat_set_times", "iiiiIIi"),
        ("path_link", "iiiiiii"),
        ("path_open", "iiiiiIIii"),
        ("path_readlink", "iiiiii"),
        ("path_remove_directory", "iii"),
        ("path_rename", "iiiiii"),
        ("path_symlink", "iiiii"),
        ("path_unlink_file", "iii"),
        ("poll_oneoff", "iiii"),
        ("proc_raise", "i"),
        ("sock_accept", "iii"),
        ("sock_recv", "iiiiii"),
        ("sock_send", "iiiii"),
        ("sock_shutdown", "ii"),
    ];
    let zeros = |sig: &str| -> String {
        sig.chars()
            .map(|c| {
                if c == 'I' {
                    " (i64.const 0)"
                } else {
                    " (i32.const 0)"
                }
            })
            .collect()
    };
    let mut functions: Vec<(String, String, String)> = ABI
        .iter()
        .map(|(n, sig)| {
            (
                format!("env.{n}"),
                String::new(),
                format!("(drop (call ${n}{}))", zeros(sig)),
            )
        })
        .collect();
    for (n, sig) in WASI {
        let params: String = sig
            .chars()
            .map(|c| if c == 'I' { " i64" } else { " i32" })
            .collect();
        let result = if *n == "proc_exit" { "" } else { " (result i32)" };
        let import =
            format!("(import \"wasi_snapshot_preview1\" \"{n}\" (func $w (param{params}){result}))\n");
        let call = if *n == "proc_exit" {
            format!("(call $w{})", zeros(sig))
        } else {
            format!("(drop (call $w{}))", zeros(sig))
        };
        functions.push((format!("wasi_snapshot_preview1.{n}"), import, call));
    }
    assert_eq!(functions.len(), 39 + 46);

    let mut wrong = Vec::new();
    for (name, import, call) in &functions {
        let module = wat_module(import, &format!("(func (export \"_initialize\") {call})"));
        let r = Plugin::from_bytes(&module)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .sim()
            .start();
        let refused = match &r {
            Ok(_) => false,
            Err(Error::Trap { message, .. }) if message.contains("restricted_callback") => {
                assert!(message.contains(name.as_str()), "{message}");
                true
            }
            Err(e) => panic!("{name} during _initialize: unexpected {e}"),
        };
        if refused == ALLOWED.contains(&name.as_str()) {
            wrong.push(format!("{name}: {}", if refused { "refused" } else { "allowed" }));
        }
    }
    assert!(
        wrong.is_empty(),
        "differs from cpp-host's start allow-list: {wrong:?}"
    );
}
