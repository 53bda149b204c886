//! Properties: `proxy_get_property`, `proxy_set_property`.
//!
//! Envoy `Context::getProperty`/`findValue`/`setProperty` (source/extensions/common/wasm/context.cc) and
//! the CEL attributes of `filters/common/expr/context.cc`:
//! - paths are segments joined by NUL; typed values come back in native form (int64 as 8 LE bytes, bool
//!   as 1 byte, timestamps as int64 ns, maps in the pairs format);
//! - `set_property(path, v)` stores filter state `wasm.<path>` (with the NULs of a multi-segment path in
//!   the key) and is NOT_FOUND without stream info, i.e. from the root context;
//! - `get_property([name])` finds `wasm.<name>` back; a deeper path into it is NOT_FOUND.
//!
//! - `metadata` (Envoy's `envoy.config.core.v3.Metadata` of the stream's dynamic metadata,
//!   lambda-streaming.md §8.2): `["metadata", "filter_metadata", ns, key, field...]` walks the namespace's
//!   Struct one segment at a time (a list by index), NOT_FOUND at a missing segment. A leaf comes back
//!   natively (a string as bytes, a number as an 8-byte LE double, a bool as 1 byte); a Struct in the pairs
//!   format (values serialized natively, nested Structs as nested pairs), a list as pairs with the elements
//!   in the key slots and empty values; a `null` anywhere in what is serialized is SERIALIZATION_FAILURE
//!   (measured on Envoy 1.40.0: jwt_authn's `payload_in_metadata` Struct of a token with a `null` claim is
//!   SERIALIZATION_FAILURE, without one OK; §8.2 had it unverified), as is the whole `metadata` or
//!   `filter_metadata` message (not served here).
//!
//! Simulated attributes: `request.{path,url_path,host,scheme,method,headers,referer,useragent,id,protocol,
//! query,time,size}`, `response.{code,code_details,headers,trailers,flags,size}`, `source.{address,port}`,
//! `destination.{address,port}`, `connection.{id,mtls,requested_server_name}`,
//! `upstream.{address,port}` (once the upstream was called), `plugin_name`, `plugin_root_id`,
//! `plugin_vm_id`. The connection is `127.0.0.1:<port>` -> `127.0.0.1:10000` over HTTP/1.1, upstream
//! 127.0.0.1:8080.

use wasmtime::{Caller, Linker};

use super::{ok, restricted, HostResult, Status};
use crate::http::Headers;
use crate::memory;
use crate::state::{HostState, StreamData};

enum Val {
    Bytes(Vec<u8>),
    Int(i64),
    UInt(u64),
    Bool(bool),
    Map(Headers),
}

impl Val {
    fn str(s: &str) -> Val {
        Val::Bytes(s.as_bytes().to_vec())
    }

    fn encode(self) -> Vec<u8> {
        match self {
            Val::Bytes(b) => b,
            Val::Int(i) => i.to_le_bytes().to_vec(),
            Val::UInt(u) => u.to_le_bytes().to_vec(),
            Val::Bool(b) => vec![u8::from(b)],
            Val::Map(h) => h.to_pairs(),
        }
    }
}

pub(crate) const DOWNSTREAM_LOCAL: &str = "127.0.0.1:10000";
pub(crate) const UPSTREAM_ADDRESS: &str = "127.0.0.1:8080";

fn request_attr(s: &StreamData, field: &str) -> Option<Val> {
    let h = &s.request.headers;
    // Envoy's `RequestWrapper` reads the header-derived fields from the request header map the context
    // holds, which is gone once the request headers continued (NOT_FOUND, measured on Envoy 1.40 by
    // routewise-tests' fidelity suite); `on_log` gets the map back (not measured).
    let from_headers = matches!(
        field,
        "path"
            | "url_path"
            | "query"
            | "host"
            | "scheme"
            | "method"
            | "referer"
            | "useragent"
            | "id"
            | "headers"
    );
    if from_headers && !(s.request.headers_avail || s.access_log_phase) {
        return None;
    }
    let path = h.get(":path").unwrap_or("");
    Some(match field {
        "path" => Val::str(path),
        "url_path" => Val::str(path.split('?').next().unwrap_or("")),
        "query" => Val::str(path.split_once('?').map_or("", |(_, q)| q)),
        "host" => Val::str(h.get(":authority")?),
        "scheme" => Val::str(h.get(":scheme")?),
        "method" => Val::str(h.get(":method")?),
        "referer" => Val::str(h.get("referer")?),
        "useragent" => Val::str(h.get("user-agent")?),
        "id" => Val::str(h.get("x-request-id")?),
        "protocol" => Val::str("HTTP/1.1"),
        "time" => Val::Int(s.start_time_ns as i64),
        "size" => Val::Int(
            h.get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(s.request.out_body.len() as i64),
        ),
        "headers" => Val::Map(h.clone()),
        _ => return None,
    })
}

fn response_attr(s: &StreamData, field: &str) -> Option<Val> {
    Some(match field {
        "code" => Val::Int(i64::from(s.response_code?)),
        "code_details" => Val::str(s.response_code_details.as_deref()?),
        "flags" => Val::Int(0),
        "headers" if s.response.started => Val::Map(s.response.headers.clone()),
        "trailers" => Val::Map(s.response.trailers.clone()?),
        "size" if s.response.out_complete => Val::Int(s.response.out_body.len() as i64),
        _ => return None,
    })
}

/// A dynamic metadata value as Envoy's `serializeValue` writes a `google.protobuf.Value` (module docs).
fn encode_metadata(v: &serde_json::Value) -> Result<Vec<u8>, Status> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => return Err(Status::SerializationFailure),
        J::String(s) => s.as_bytes().to_vec(),
        J::Number(n) => n.as_f64().unwrap_or(0.0).to_le_bytes().to_vec(),
        J::Bool(b) => vec![u8::from(*b)],
        J::Object(m) => {
            let values: Vec<(Vec<u8>, Vec<u8>)> = m
                .iter()
                .map(|(k, v)| Ok((k.as_bytes().to_vec(), encode_metadata(v)?)))
                .collect::<Result<_, Status>>()?;
            crate::http::serialize_pairs(values.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))
        }
        J::Array(items) => {
            let keys: Vec<Vec<u8>> = items.iter().map(encode_metadata).collect::<Result<_, Status>>()?;
            crate::http::serialize_pairs(keys.iter().map(|k| (k.as_slice(), &[][..])))
        }
    })
}

/// `["metadata", ...]`: see the module docs.
fn metadata(s: &StreamData, rest: &[&[u8]]) -> Result<Val, Status> {
    match rest.first() {
        // The whole message: not served (as the other attribute groups).
        None => return Err(Status::SerializationFailure),
        Some(f) if *f != b"filter_metadata" => return Err(Status::NotFound),
        Some(_) => {}
    }
    let Some(ns) = rest.get(1) else {
        return Err(Status::SerializationFailure);
    };
    let ns = s
        .dynamic_metadata
        .get(&*String::from_utf8_lossy(ns))
        .ok_or(Status::NotFound)?;
    let Some((key, path)) = rest.get(2..).and_then(|r| r.split_first()) else {
        let whole = serde_json::Value::Object(ns.clone().into_iter().collect());
        return encode_metadata(&whole).map(Val::Bytes);
    };
    let mut v = ns.get(&*String::from_utf8_lossy(key)).ok_or(Status::NotFound)?;
    for seg in path {
        let seg = String::from_utf8_lossy(seg);
        v = match v {
            serde_json::Value::Object(m) => m.get(&*seg),
            serde_json::Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        }
        .ok_or(Status::NotFound)?;
    }
    encode_metadata(v).map(Val::Bytes)
}

fn lookup(st: &mut HostState, segs: &[&[u8]]) -> Result<Val, Status> {
    let (first, rest) = segs.split_first().ok_or(Status::NotFound)?;
    let first = String::from_utf8_lossy(first).into_owned();
    let plugin = match first.as_str() {
        "plugin_name" => Some(Val::str(&st.plugin.plugin_name)),
        "plugin_root_id" => Some(Val::str(&st.plugin.root_id)),
        "plugin_vm_id" => Some(Val::str(&st.plugin.vm_id)),
        _ => None,
    };
    if let Some(v) = plugin {
        return if rest.is_empty() {
            Ok(v)
        } else {
            Err(Status::NotFound)
        };
    }
    let id = st.ctx.effective;
    let s = st.stream().ok_or(Status::NotFound)?;
    let field = rest.first().map(|f| String::from_utf8_lossy(f).into_owned());
    let top = |v: Val| {
        if rest.is_empty() {
            Ok(v)
        } else {
            Err(Status::NotFound)
        }
    };
    if first == "metadata" {
        return metadata(s, rest);
    }
    let value = match (first.as_str(), field.as_deref()) {
        ("request" | "response" | "source" | "destination" | "connection" | "upstream", None) => {
            // A whole attribute group is a message in Envoy; this simulator only serves its fields.
            return Err(Status::SerializationFailure);
        }
        ("request", Some(f)) => request_attr(s, f),
        ("response", Some(f)) => response_attr(s, f),
        ("source", Some("address")) => Some(Val::Bytes(format!("127.0.0.1:{}", s.source_port).into_bytes())),
        ("source", Some("port")) => Some(Val::Int(i64::from(s.source_port))),
        ("destination", Some("address")) => Some(Val::str(DOWNSTREAM_LOCAL)),
        ("destination", Some("port")) => Some(Val::Int(10000)),
        ("connection", Some("id")) => Some(Val::UInt(u64::from(id))),
        ("connection", Some("mtls")) => Some(Val::Bool(false)),
        ("connection", Some("requested_server_name")) => Some(Val::str("")),
        ("upstream", Some("address")) if s.upstream_called => Some(Val::str(UPSTREAM_ADDRESS)),
        ("upstream", Some("port")) if s.upstream_called => Some(Val::Int(8080)),
        (_, _) => {
            // Anything else is filter state `wasm.<name>` (Envoy `findValue` fallback), a bytes value.
            let v = s
                .filter_state
                .get(first.as_bytes())
                .cloned()
                .ok_or(Status::NotFound)?;
            return top(Val::Bytes(v));
        }
    };
    let value = value.ok_or(Status::NotFound)?;
    match (value, &rest[1..]) {
        (v, []) => Ok(v),
        (Val::Map(h), [key]) => h
            .get(&String::from_utf8_lossy(key))
            .map(Val::str)
            .ok_or(Status::NotFound),
        _ => Err(Status::NotFound),
    }
}

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_property",
        |mut caller: Caller<'_, HostState>,
         pptr: i32,
         plen: i32,
         ptr_ptr: i32,
         size_ptr: i32|
         -> HostResult {
            restricted(&caller, "env.proxy_get_property")?;
            let path = match memory::read_vec(&mut caller, pptr, plen)? {
                Ok(p) => p,
                Err(e) => return ok(e.into()),
            };
            let segs: Vec<&[u8]> = path.split(|b| *b == 0).collect();
            let value = match lookup(caller.data_mut(), &segs) {
                Ok(v) => v.encode(),
                Err(s) => return ok(s),
            };
            ok(memory::copy_out(&mut caller, &value, ptr_ptr, size_ptr)?)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_property",
        |mut caller: Caller<'_, HostState>, pptr: i32, plen: i32, vptr: i32, vlen: i32| -> HostResult {
            restricted(&caller, "env.proxy_set_property")?;
            let (path, value) = match (
                memory::read_vec(&mut caller, pptr, plen)?,
                memory::read_vec(&mut caller, vptr, vlen)?,
            ) {
                (Ok(p), Ok(v)) => (p, v),
                _ => return ok(Status::InvalidMemoryAccess),
            };
            let Some(s) = caller.data_mut().stream() else {
                return ok(Status::NotFound);
            };
            s.filter_state.insert(path, value);
            ok(Status::Ok)
        },
    )?;
    Ok(())
}
