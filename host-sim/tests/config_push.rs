//! Config pushes (ECDS/LDS into a running worker VM) and per-root-context ticks, with an inline-WAT guest
//! that logs every lifecycle callback with the context ids it got, e.g. `create 3 2`, `configure 2 b`.

mod common;

use std::time::Duration;

use common::*;
use host_sim::{Error, HttpCallReply, LogLevel, Plugin, Request, Response, Sim, StreamState};

/// The guest. Its plugin configuration is `[x][k][digits]`: `x` rejects it in `on_configure`, `k` makes
/// the root's `on_done` return false (then its next tick calls `proxy_done`), digits set the root's tick
/// period in ms. Every callback logs one info line:
///
/// - `create ID PARENT`, `vm_start ID`, `configure ID CONFIG`, `done ID`, `delete ID`;
/// - `tick ID MS` (MS = ms since the first `on_vm_start`), `proxy_done ID STATUS`;
/// - `headers ID` (request headers: Continue), `response CTX TOKEN`, `queue CTX`.
///
/// Exports for [`Sim::call_export`]: `set_period(ms)` (status in slot 0), `call` (an HTTP callout; token
/// at 0x108), `register` (registers queue `q`).
fn guest() -> Plugin {
    let headers = pairs(&[(":method", "GET"), (":path", "/check"), (":authority", "authz")]);
    let body = format!(
        r#"(data (i32.const 0x400) "create")
        (data (i32.const 0x410) "vm_start")
        (data (i32.const 0x420) "configure")
        (data (i32.const 0x430) "tick")
        (data (i32.const 0x440) "done")
        (data (i32.const 0x450) "delete")
        (data (i32.const 0x460) "headers")
        (data (i32.const 0x470) "response")
        (data (i32.const 0x480) "proxy_done")
        (data (i32.const 0x490) "queue")
        (data (i32.const 0x4a0) "authz")
        (data (i32.const 0x4b0) "q")
        (data (i32.const 0x500) "{headers}")
        ;; The line being built is at 0x3000, $ml bytes long; digits are formatted backwards below 0x2f10.
        ;; Per context id: 0x2000+id = `k` flag, 0x2100+id = `on_done` returned false.
        (global $ml (mut i32) (i32.const 0))
        (global $t0 (mut i64) (i64.const 0))
        (func $put (param $p i32) (param $n i32)
          (memory.copy (i32.add (i32.const 0x3000) (global.get $ml)) (local.get $p) (local.get $n))
          (global.set $ml (i32.add (global.get $ml) (local.get $n))))
        (func $num (param $v i32)
          (local $b i32)
          (i32.store8 (i32.add (i32.const 0x3000) (global.get $ml)) (i32.const 32))
          (global.set $ml (i32.add (global.get $ml) (i32.const 1)))
          (local.set $b (i32.const 0x2f10))
          (loop $l
            (local.set $b (i32.sub (local.get $b) (i32.const 1)))
            (i32.store8 (local.get $b) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
            (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
            (br_if $l (local.get $v)))
          (call $put (local.get $b) (i32.sub (i32.const 0x2f10) (local.get $b))))
        (func $emit
          (drop (call $proxy_log (i32.const 2) (i32.const 0x3000) (global.get $ml)))
          (global.set $ml (i32.const 0)))
        (func $log1 (param $p i32) (param $n i32) (param $a i32)
          (call $put (local.get $p) (local.get $n)) (call $num (local.get $a)) (call $emit))
        (func $log2 (param $p i32) (param $n i32) (param $a i32) (param $b i32)
          (call $put (local.get $p) (local.get $n)) (call $num (local.get $a)) (call $num (local.get $b))
          (call $emit))
        (func $now (result i64)
          (drop (call $proxy_get_current_time_nanoseconds (i32.const 0x1f0)))
          (i64.load (i32.const 0x1f0)))

        (func (export "proxy_on_context_create") (param $id i32) (param $parent i32)
          (call $log2 (i32.const 0x400) (i32.const 6) (local.get $id) (local.get $parent)))
        (func (export "proxy_on_vm_start") (param $id i32) (param i32) (result i32)
          (if (i64.eqz (global.get $t0)) (then (global.set $t0 (call $now))))
          (call $log1 (i32.const 0x410) (i32.const 8) (local.get $id))
          (i32.const 1))
        (func (export "proxy_on_configure") (param $id i32) (param $size i32) (result i32)
          (local $p i32) (local $n i32) (local $c i32) (local $ms i32) (local $digits i32) (local $ok i32)
          (local.set $ok (i32.const 1))
          (if (i32.eqz (call $proxy_get_buffer_bytes (i32.const 7) (i32.const 0) (local.get $size) (i32.const 0x1e0) (i32.const 0x1e4)))
            (then
              (local.set $p (i32.load (i32.const 0x1e0)))
              (local.set $n (i32.load (i32.const 0x1e4)))))
          (call $put (i32.const 0x420) (i32.const 9))
          (call $num (local.get $id))
          (i32.store8 (i32.add (i32.const 0x3000) (global.get $ml)) (i32.const 32))
          (global.set $ml (i32.add (global.get $ml) (i32.const 1)))
          (call $put (local.get $p) (local.get $n))
          (call $emit)
          (block $end
            (loop $l
              (br_if $end (i32.eqz (local.get $n)))
              (local.set $c (i32.load8_u (local.get $p)))
              (if (i32.eq (local.get $c) (i32.const 120)) (then (local.set $ok (i32.const 0))))
              (if (i32.eq (local.get $c) (i32.const 107)) (then (i32.store8 (i32.add (i32.const 0x2000) (local.get $id)) (i32.const 1))))
              (if (i32.and (i32.ge_u (local.get $c) (i32.const 48)) (i32.le_u (local.get $c) (i32.const 57)))
                (then
                  (local.set $digits (i32.const 1))
                  (local.set $ms (i32.add (i32.mul (local.get $ms) (i32.const 10)) (i32.sub (local.get $c) (i32.const 48))))))
              (local.set $p (i32.add (local.get $p) (i32.const 1)))
              (local.set $n (i32.sub (local.get $n) (i32.const 1)))
              (br $l)))
          (if (local.get $digits) (then (drop (call $proxy_set_tick_period_milliseconds (local.get $ms)))))
          (local.get $ok))
        (func (export "proxy_on_tick") (param $id i32)
          (call $log2 (i32.const 0x430) (i32.const 4) (local.get $id)
            (i32.wrap_i64 (i64.div_u (i64.sub (call $now) (global.get $t0)) (i64.const 1000000))))
          (if (i32.load8_u (i32.add (i32.const 0x2100) (local.get $id)))
            (then (call $log2 (i32.const 0x480) (i32.const 10) (local.get $id) (call $proxy_done)))))
        (func (export "proxy_on_done") (param $id i32) (result i32)
          (call $log1 (i32.const 0x440) (i32.const 4) (local.get $id))
          (if (result i32) (i32.load8_u (i32.add (i32.const 0x2000) (local.get $id)))
            (then (i32.store8 (i32.add (i32.const 0x2100) (local.get $id)) (i32.const 1)) (i32.const 0))
            (else (i32.const 1))))
        (func (export "proxy_on_delete") (param $id i32)
          (call $log1 (i32.const 0x450) (i32.const 6) (local.get $id)))
        (func (export "proxy_on_request_headers") (param $id i32) (param i32 i32) (result i32)
          (call $log1 (i32.const 0x460) (i32.const 7) (local.get $id))
          (i32.const 0))
        (func (export "proxy_on_http_call_response") (param $ctx i32) (param $token i32) (param i32 i32 i32)
          (call $log2 (i32.const 0x470) (i32.const 8) (local.get $ctx) (local.get $token)))
        (func (export "proxy_on_queue_ready") (param $ctx i32) (param i32)
          (call $log1 (i32.const 0x490) (i32.const 5) (local.get $ctx)))

        (func (export "set_period") (param $ms i32)
          (call $st (i32.const 0) (call $proxy_set_tick_period_milliseconds (local.get $ms))))
        (func (export "call")
          (call $st (i32.const 1) (call $proxy_http_call (i32.const 0x4a0) (i32.const 5) (i32.const 0x500) (i32.const {len})
            (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0x108))))
        (func (export "register")
          (call $st (i32.const 2) (call $proxy_register_shared_queue (i32.const 0x4b0) (i32.const 1) (i32.const 0x10c))))"#,
        headers = wat_bytes(&headers),
        len = headers.len(),
    );
    wat_plugin(&body)
}

fn start(config: &str) -> Sim {
    guest().sim().config(config).start().expect("the guest starts")
}

/// The guest's info lines since the last call, and forgets them.
fn lines(sim: &mut Sim) -> Vec<String> {
    let out = sim
        .logs_at(LogLevel::Info)
        .into_iter()
        .map(str::to_string)
        .collect();
    sim.clear_logs();
    out
}

/// Sends the upstream's answer to stream `id` and ends it.
fn end(sim: &mut Sim, id: u32) {
    assert!(matches!(
        sim.stream_state(id).unwrap(),
        StreamState::AwaitingUpstream(_)
    ));
    sim.respond(id, Response::ok()).unwrap();
    sim.finish(id).unwrap();
}

#[test]
fn a_push_creates_the_next_root_context_and_configures_it_with_the_new_bytes() {
    let mut sim = start("a");
    assert_eq!(lines(&mut sim), ["create 1 0", "vm_start 1", "configure 1 a"]);

    // cpp-host `WasmBase::start` (`onStart`: context create, vm start) then `configure`, on the same VM;
    // no stream holds the old plugin, so its root is finished at once.
    assert_eq!(sim.push_config("b"), Ok(2));
    assert_eq!(
        lines(&mut sim),
        ["create 2 0", "vm_start 2", "configure 2 b", "done 1", "delete 1"]
    );
    assert_eq!((sim.root_context(), sim.root_contexts()), (2, vec![2]));

    // New streams are created under the new root; ids keep counting across roots and streams.
    let id = sim.begin(Request::get("/")).unwrap();
    assert_eq!(id, 3);
    assert_eq!(lines(&mut sim), ["create 3 2", "headers 3"]);
    end(&mut sim, id);
    assert_eq!(lines(&mut sim), ["done 3", "delete 3"]);

    // The VM lives on: the next push is root 4, which reads its own configuration.
    assert_eq!(sim.push_config("c"), Ok(4));
    assert_eq!(
        lines(&mut sim),
        ["create 4 0", "vm_start 4", "configure 4 c", "done 2", "delete 2"]
    );
}

#[test]
fn a_rejected_push_keeps_the_old_root_current_and_deletes_the_new_one() {
    let mut sim = start("a");
    lines(&mut sim);
    match sim.push_config("xb") {
        Err(Error::ConfigureRejected { logs }) => {
            let messages: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
            assert_eq!(messages, ["create 2 0", "vm_start 2", "configure 2 xb"]);
        }
        other => panic!("expected ConfigureRejected, got {other:?}"),
    }
    assert_eq!(
        lines(&mut sim),
        ["create 2 0", "vm_start 2", "configure 2 xb", "done 2", "delete 2"]
    );
    assert_eq!((sim.root_context(), sim.root_contexts()), (1, vec![1]));

    // Streams stay on the old root; the rejected root's id is not reused.
    let id = sim.begin(Request::get("/")).unwrap();
    assert_eq!(lines(&mut sim), ["create 3 1", "headers 3"]);
    end(&mut sim, id);
    assert_eq!(lines(&mut sim), ["done 3", "delete 3"]);
    assert_eq!(sim.push_config("c"), Ok(4));
    assert_eq!(
        lines(&mut sim),
        ["create 4 0", "vm_start 4", "configure 4 c", "done 1", "delete 1"]
    );
}

#[test]
fn in_flight_streams_keep_the_old_root_alive_until_they_end() {
    let mut sim = start("a");
    let old = sim.begin(Request::get("/old")).unwrap();
    assert_eq!(old, 2);
    lines(&mut sim);

    assert_eq!(sim.push_config("b"), Ok(3));
    assert_eq!(lines(&mut sim), ["create 3 0", "vm_start 3", "configure 3 b"]);
    assert_eq!(sim.root_contexts(), [1, 3]);

    let new = sim.begin(Request::get("/new")).unwrap();
    assert_eq!(lines(&mut sim), ["create 4 3", "headers 4"]);
    end(&mut sim, new);
    assert_eq!(lines(&mut sim), ["done 4", "delete 4"]);
    assert_eq!(sim.root_contexts(), [1, 3]);

    // The old plugin's last stream ends: its root is finished after it.
    end(&mut sim, old);
    assert_eq!(lines(&mut sim), ["done 2", "delete 2", "done 1", "delete 1"]);
    assert_eq!(sim.root_contexts(), [3]);
}

#[test]
fn a_callout_of_an_old_stream_is_answered_on_the_old_root_and_cancelled_with_it() {
    let mut sim = start("a");
    let old = sim.begin(Request::get("/old")).unwrap();
    sim.call_export("call", old, &[]).unwrap();
    let first = u32_at(&mut sim, 0x108);
    assert_eq!(sim.push_config("b"), Ok(3));
    lines(&mut sim);

    // The call belongs to the root of the stream that made it (cpp-host `http_call`), not the current one.
    sim.answer_http_call(first, HttpCallReply::Response(Response::ok()))
        .unwrap();
    assert_eq!(lines(&mut sim), [format!("response 1 {first}")]);

    // A call still pending when its root is deleted is cancelled (Envoy's `Context` destructor).
    sim.call_export("call", old, &[]).unwrap();
    let second = u32_at(&mut sim, 0x108);
    assert_eq!(sim.pending_http_calls().len(), 1);
    end(&mut sim, old);
    assert_eq!(lines(&mut sim), ["done 2", "delete 2", "done 1", "delete 1"]);
    assert!(sim.pending_http_calls().is_empty());
    assert!(matches!(
        sim.answer_http_call(second, HttpCallReply::Response(Response::ok())),
        Err(Error::Usage(_))
    ));
}

#[test]
fn two_roots_tick_on_their_own_periods_in_time_order() {
    let mut sim = start("30");
    let old = sim.begin(Request::get("/")).unwrap();
    assert_eq!(sim.push_config("50"), Ok(3));
    assert_eq!(sim.tick_period(), Duration::from_millis(50));
    assert_eq!(sim.tick_period_of(1), Duration::from_millis(30));
    lines(&mut sim);

    // At 150 ms both are due: the lower root id first.
    sim.advance(Duration::from_millis(150)).unwrap();
    assert_eq!(
        lines(&mut sim),
        [
            "tick 1 30",
            "tick 3 50",
            "tick 1 60",
            "tick 1 90",
            "tick 3 100",
            "tick 1 120",
            "tick 1 150",
            "tick 3 150"
        ]
    );
    sim.tick().unwrap();
    assert_eq!(lines(&mut sim), ["tick 1 180"]);

    // Once the old root is deleted its ticks stop.
    end(&mut sim, old);
    assert_eq!(lines(&mut sim), ["done 2", "delete 2", "done 1", "delete 1"]);
    assert_eq!(sim.tick_period_of(1), Duration::ZERO);
    sim.advance(Duration::from_millis(70)).unwrap();
    assert_eq!(lines(&mut sim), ["tick 3 200", "tick 3 250"]);
}

#[test]
fn period_zero_stops_a_roots_ticks_and_a_stream_sets_the_period_of_its_root() {
    let mut sim = start("20");
    let old = sim.begin(Request::get("/")).unwrap();
    assert_eq!(sim.push_config("40"), Ok(3));
    lines(&mut sim);

    // From a stream of the old plugin: cpp-host `setTimerPeriod(root_context()->id(), ..)`.
    sim.call_export("set_period", old, &[0]).unwrap();
    assert_eq!(slots(&mut sim, 1), [0]);
    assert_eq!(sim.tick_period_of(1), Duration::ZERO);
    assert_eq!(sim.tick_period(), Duration::from_millis(40));
    sim.advance(Duration::from_millis(100)).unwrap();
    assert_eq!(lines(&mut sim), ["tick 3 40", "tick 3 80"]);

    // A new period restarts the schedule from now (t = 100 ms).
    sim.call_export("set_period", 3, &[25]).unwrap();
    sim.advance(Duration::from_millis(50)).unwrap();
    assert_eq!(lines(&mut sim), ["tick 3 125", "tick 3 150"]);

    sim.call_export("set_period", 3, &[0]).unwrap();
    sim.advance(Duration::from_millis(500)).unwrap();
    assert_eq!(lines(&mut sim), Vec::<String>::new());
    assert!(matches!(sim.tick(), Err(Error::Usage(_))));
}

#[test]
fn an_old_root_whose_on_done_returns_false_lives_until_it_calls_proxy_done() {
    let mut sim = start("k20");
    lines(&mut sim);
    assert_eq!(sim.push_config("b"), Ok(2));
    assert_eq!(
        lines(&mut sim),
        ["create 2 0", "vm_start 2", "configure 2 b", "done 1"]
    );
    assert_eq!(sim.root_contexts(), [1, 2]);

    // It still ticks; `proxy_done` from it is OK and `on_delete` follows once the tick returns
    // (cpp-host `WasmBase::done`, then `finishShutdown` as an after-VM-call action).
    sim.advance(Duration::from_millis(20)).unwrap();
    assert_eq!(lines(&mut sim), ["tick 1 20", "proxy_done 1 0", "delete 1"]);
    assert_eq!(sim.root_contexts(), [2]);
    sim.advance(Duration::from_millis(100)).unwrap();
    assert_eq!(lines(&mut sim), Vec::<String>::new());
}

#[test]
fn a_queue_registered_by_a_stream_wakes_the_streams_root() {
    let mut sim = start("a");
    let old = sim.begin(Request::get("/")).unwrap();
    sim.call_export("register", old, &[]).unwrap();
    assert_eq!(slots(&mut sim, 3)[2], 0);
    assert_eq!(sim.push_config("b"), Ok(3));
    lines(&mut sim);
    // cpp-host `registerSharedQueue`: `on_queue_ready` goes to the registering context's root.
    sim.enqueue("q", b"x").unwrap();
    assert_eq!(lines(&mut sim), ["queue 1"]);
    // Once that root is gone nothing is woken (cpp-host `WasmBase::queueReady`).
    end(&mut sim, old);
    lines(&mut sim);
    sim.enqueue("q", b"y").unwrap();
    assert_eq!(lines(&mut sim), Vec::<String>::new());
    assert_eq!(sim.dequeue("q").as_deref(), Some(&b"x"[..]));
}
