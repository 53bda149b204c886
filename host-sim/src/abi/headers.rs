//! Header/trailer/metadata maps: `proxy_{get,set}_header_map_pairs`, `proxy_get_header_map_size`,
//! `proxy_{get,add,replace,remove}_header_map_value`.
//!
//! Envoy `Context::getMap`/`getConstMap` (source/extensions/common/wasm/context.cc):
//! - request/response headers are reachable only while the wasm context holds their pointer: during the
//!   headers callback and, if it paused, until `continue_stream`. Afterwards reads of a single value are
//!   BAD_ARGUMENT, pair listings are empty (OK), and every mutation is BAD_ARGUMENT;
//! - in `on_log` the final request/response headers are readable and a missing map reads as NOT_FOUND;
//! - asking for request/response *trailers* at the end of the body creates them (`addDecodedTrailers`);
//! - keys are lower-cased; `get` returns the first of repeated values; `replace` is `setCopy` (removes
//!   every value, appends one); `remove` removes every value and is OK when absent;
//! - modifying request headers clears the route cache (ABI 0.2.1, `onHeadersModified`);
//! - `proxy_get_header_map_size` returns the map's byte size (`HeaderMap::byteSize`), not its length.

use wasmtime::{Caller, Linker};

use super::{ok, restricted, HostResult, Status};
use crate::http::{parse_pairs, Headers};
use crate::memory;
use crate::state::{Dir, HostState};

const MAX_TYPE: i32 = 7;

/// Read-only view (Envoy `getConstMap`): `Ok(None)` = the map is not available now.
fn const_map(st: &mut HostState, ty: i32) -> Result<Option<Headers>, Status> {
    if !(0..=MAX_TYPE).contains(&ty) {
        return Err(Status::BadArgument);
    }
    if ty == 6 || ty == 7 {
        return Ok(st
            .calls
            .current_response
            .as_ref()
            .map(|(h, _, t)| if ty == 6 { h.clone() } else { t.clone() }));
    }
    let Some(s) = st.stream() else { return Ok(None) };
    let log = s.access_log_phase;
    Ok(match ty {
        0 if log => Some(s.request.headers.clone()),
        0 => s.request.headers_avail.then(|| s.request.headers.clone()),
        1 if log => None,
        1 => s.request.trailers.clone().filter(|_| s.request.trailers_avail),
        2 if log => s.response.out_headers.clone(),
        2 => s.response.headers_avail.then(|| s.response.headers.clone()),
        3 if log => s.response.out_trailers.clone(),
        3 => s.response.trailers.clone().filter(|_| s.response.trailers_avail),
        _ => None, // gRPC metadata: no gRPC calls are answered here.
    })
}

fn in_log_phase(st: &mut HostState) -> bool {
    st.stream().is_some_and(|s| s.access_log_phase)
}

/// Applies `f` to a mutable map (Envoy `getMap`), or returns BAD_ARGUMENT when it is not available.
fn with_mut_map(st: &mut HostState, ty: i32, modifies: bool, f: impl FnOnce(&mut Headers)) -> Status {
    let Some(s) = st.stream() else {
        return Status::BadArgument;
    };
    if s.access_log_phase {
        return Status::BadArgument;
    }
    let (dir, trailers) = match ty {
        0 => (Dir::Request, false),
        1 => (Dir::Request, true),
        2 => (Dir::Response, false),
        3 => (Dir::Response, true),
        _ => return Status::BadArgument,
    };
    let h = s.half(dir);
    if trailers {
        if !h.trailers_avail && h.trailers.is_none() && h.body_avail && h.end_of_stream {
            // addDecodedTrailers / addEncodedTrailers: the body's end of stream moves to the new trailers.
            h.trailers = Some(Headers::new());
            h.trailers_avail = true;
        }
        match (&mut h.trailers, h.trailers_avail) {
            (Some(t), true) => f(t),
            _ => return Status::BadArgument,
        }
    } else if h.headers_avail {
        f(&mut h.headers);
        if dir == Dir::Request && modifies {
            s.route_cache_clears += 1;
        }
    } else {
        return Status::BadArgument;
    }
    Status::Ok
}

fn read_key(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Result<String, Status>> {
    Ok(memory::read_vec(caller, ptr, len)?
        .map(|b| String::from_utf8_lossy(&b).to_ascii_lowercase())
        .map_err(Into::into))
}

fn read_str(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Result<String, Status>> {
    Ok(memory::read_vec(caller, ptr, len)?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(Into::into))
}

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_header_map_size",
        |mut caller: Caller<'_, HostState>, ty: i32, ret: i32| -> HostResult {
            restricted(&caller, "env.proxy_get_header_map_size")?;
            let (mem, st) = memory::split(&mut caller)?;
            if !(0..=MAX_TYPE).contains(&ty) {
                return ok(Status::BadArgument);
            }
            // Envoy reads it through the mutable `getMap`, so it is BAD_ARGUMENT wherever mutation would be.
            let mut size = None;
            let status = with_mut_map(st, ty, false, |h| size = Some(h.byte_size()));
            let Some(size) = size else { return ok(status) };
            ok(memory::write_u32(mem, ret, size as u32).map_or_else(Into::into, |_| Status::Ok))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut caller: Caller<'_, HostState>, ty: i32, ptr_ptr: i32, size_ptr: i32| -> HostResult {
            restricted(&caller, "env.proxy_get_header_map_pairs")?;
            let map = match const_map(caller.data_mut(), ty) {
                Ok(m) => m.unwrap_or_default(),
                Err(s) => return ok(s),
            };
            // An empty or unavailable map is handed over as (0, 0), which the SDKs read as empty.
            let bytes = if map.is_empty() {
                Vec::new()
            } else {
                map.to_pairs()
            };
            ok(memory::copy_out(&mut caller, &bytes, ptr_ptr, size_ptr)?)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_header_map_pairs",
        |mut caller: Caller<'_, HostState>, ty: i32, ptr: i32, len: i32| -> HostResult {
            restricted(&caller, "env.proxy_set_header_map_pairs")?;
            let raw = match memory::read_vec(&mut caller, ptr, len)? {
                Ok(b) => b,
                Err(e) => return ok(e.into()),
            };
            let Some(pairs) = parse_pairs(&raw) else {
                return ok(Status::BadArgument);
            };
            let new = Headers::from_guest_pairs(pairs);
            ok(with_mut_map(caller.data_mut(), ty, true, |h| *h = new))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut caller: Caller<'_, HostState>,
         ty: i32,
         kptr: i32,
         klen: i32,
         ptr_ptr: i32,
         size_ptr: i32|
         -> HostResult {
            restricted(&caller, "env.proxy_get_header_map_value")?;
            let key = match read_key(&mut caller, kptr, klen)? {
                Ok(k) => k,
                Err(s) => return ok(s),
            };
            let st = caller.data_mut();
            let map = match const_map(st, ty) {
                Ok(Some(m)) => m,
                Ok(None) if in_log_phase(st) => return ok(Status::NotFound),
                Ok(None) => return ok(Status::BadArgument),
                Err(s) => return ok(s),
            };
            let Some(value) = map.get(&key).map(|v| v.as_bytes().to_vec()) else {
                return ok(Status::NotFound);
            };
            ok(memory::copy_out(&mut caller, &value, ptr_ptr, size_ptr)?)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_add_header_map_value",
        |mut caller: Caller<'_, HostState>,
         ty: i32,
         kptr: i32,
         klen: i32,
         vptr: i32,
         vlen: i32|
         -> HostResult {
            restricted(&caller, "env.proxy_add_header_map_value")?;
            let (key, value) = match (
                read_key(&mut caller, kptr, klen)?,
                read_str(&mut caller, vptr, vlen)?,
            ) {
                (Ok(k), Ok(v)) => (k, v),
                (Err(s), _) | (_, Err(s)) => return ok(s),
            };
            ok(with_mut_map(caller.data_mut(), ty, true, |h| h.add(&key, &value)))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_replace_header_map_value",
        |mut caller: Caller<'_, HostState>,
         ty: i32,
         kptr: i32,
         klen: i32,
         vptr: i32,
         vlen: i32|
         -> HostResult {
            restricted(&caller, "env.proxy_replace_header_map_value")?;
            let (key, value) = match (
                read_key(&mut caller, kptr, klen)?,
                read_str(&mut caller, vptr, vlen)?,
            ) {
                (Ok(k), Ok(v)) => (k, v),
                (Err(s), _) | (_, Err(s)) => return ok(s),
            };
            ok(with_mut_map(caller.data_mut(), ty, true, |h| h.set(&key, &value)))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut caller: Caller<'_, HostState>, ty: i32, kptr: i32, klen: i32| -> HostResult {
            restricted(&caller, "env.proxy_remove_header_map_value")?;
            let key = match read_key(&mut caller, kptr, klen)? {
                Ok(k) => k,
                Err(s) => return ok(s),
            };
            ok(with_mut_map(caller.data_mut(), ty, true, |h| h.remove(&key)))
        },
    )?;
    Ok(())
}
