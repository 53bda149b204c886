//! The README's example, kept as a test so it cannot drift.

mod common;

#[test]
fn readme_example() -> Result<(), host_sim::Error> {
    use host_sim::{LogLevel, Plugin, Request, Response};
    use serde_json::json;

    // Compiled once per process, cached by content (here: the test filter; `Plugin::routewise()` for the real one).
    let path = host_sim::workspace_root().join("target/wasm32-wasip1/wasm/host_sim_test_filter.wasm");
    let _ = common::test_filter(); // a clear message if the module was not built
    let plugin = Plugin::load(path)?;

    // _initialize, root context, on_vm_start, on_configure (a JSON string would be passed raw).
    let mut sim = plugin
        .sim()
        .config_json(&json!({
            "add_request_headers": [["x-routewise-cluster", "pets-v2"]],
            "set_path": "/v2/pets",
            "properties": [["routewise.rule_id", "pets"]],
            "metrics": true
        }))
        .allow_on_headers_stop_iteration(true)
        .start()?;

    // The client sends a request; the test answers as the upstream.
    let ex = sim.send(
        Request::get("/pets?limit=1")
            .authority("api.example.com")
            .header("X-Version", "v2"),
        Response::ok()
            .header("content-type", "application/json")
            .body(r#"{"pets":[]}"#),
    )?;

    let up = ex.upstream_request.as_ref().expect("reached the upstream");
    assert_eq!(up.path, "/v2/pets");
    assert_eq!(up.header("x-routewise-cluster"), Some("pets-v2"));
    assert_eq!(ex.status(), 200);
    assert_eq!(ex.property("routewise.rule_id").as_deref(), Some("pets"));
    assert_eq!(sim.metric("requests_total"), Some(1));
    assert_eq!(sim.logs_at(LogLevel::Info)[0], "configured");

    println!("upstream got: {} {} {:?}", up.method, up.path, up.headers.0);
    println!(
        "client got:   {} {}",
        ex.status(),
        ex.response.as_ref().unwrap().text()
    );
    println!("properties:   {:?}", ex.properties.keys().collect::<Vec<_>>());
    println!("metrics:      {:?}", sim.metrics());
    Ok(())
}
