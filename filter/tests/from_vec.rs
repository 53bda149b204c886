//! `FilterConfig::from_vec_for` (the proxy-wasm build hands its copy of the document over, freed once
//! parsed) accepts and refuses exactly what `from_bytes_for` does, with the same errors.

use routewise::pipeline::{Build, FilterConfig};

fn outcome(r: Result<FilterConfig, routewise::pipeline::Rejected>) -> Result<String, Vec<String>> {
    r.map(|c| c.configured_line()).map_err(|e| e.log_lines())
}

#[test]
fn from_vec_for_is_from_bytes_for() {
    let docs: Vec<Vec<u8>> = vec![
        br#"{"domains":[{"name":"*","api_mappings":[{"api":"a","stage":"s"}]}],
             "apis":[{"id":"a","stages":{"s":{"integration":{"type":"http","cluster":"c"}}}}]}"#
            .to_vec(),
        Vec::new(),
        vec![0xff, 0xfe, b'{'],
        b"{not json".to_vec(),
        br#"{"domains":[{"name":"*","api_mappings":[{"api":"nope","stage":"s"}]}],"apis":[],"x":1}"#.to_vec(),
        br#"{"domains":[{"name":"*","api_mappings":[{"api":"f","stage":"s"}]}],
             "apis":[{"id":"f","stages":{"s":{"integration":{"type":"lambda","cluster":"l",
               "function_name":"fn","response_transfer_mode":"STREAM"}}}}]}"#
            .to_vec(),
    ];
    for doc in docs {
        for build in [Build::ProxyWasm, Build::DynamicModule] {
            let borrowed = outcome(FilterConfig::from_bytes_for(&doc, build));
            let owned = outcome(FilterConfig::from_vec_for(doc.clone(), build));
            assert_eq!(borrowed, owned, "{}", String::from_utf8_lossy(&doc));
        }
    }
}
