//! gRPC callouts: `proxy_grpc_call`, `proxy_grpc_stream`, `proxy_grpc_send`, `proxy_grpc_cancel`,
//! `proxy_grpc_close`.
//!
//! Calls and streams are accepted and given tokens with Envoy's status codes (unknown cluster =
//! PARSE_FAILURE, `Context::grpcCall`), but never answered: host-sim does not simulate gRPC services.
//! Envoy numbers calls and streams apart (`isGrpcCallId`/`isGrpcStreamId`): here calls are odd, streams even.

use wasmtime::{Caller, Linker};

use super::{ok, restricted, HostResult, Status};
use crate::memory;
use crate::state::HostState;

fn check_cluster(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> wasmtime::Result<Status> {
    let name = match memory::read_vec(caller, ptr, len)? {
        Ok(n) => String::from_utf8_lossy(&n).into_owned(),
        Err(e) => return Ok(e.into()),
    };
    Ok(match &caller.data().calls.clusters {
        Some(known) if !known.contains(&name) => Status::ParseFailure,
        _ => Status::Ok,
    })
}

fn new_token(st: &mut HostState, stream: bool) -> u32 {
    st.calls.grpc_next_token += 1;
    let t = st.calls.grpc_next_token * 2 + u32::from(!stream);
    if stream {
        st.calls.grpc_streams.push(t);
    } else {
        st.calls.grpc_calls.push(t);
    }
    t
}

fn end(st: &mut HostState, token: u32) -> Status {
    let list = if token % 2 == 1 {
        &mut st.calls.grpc_calls
    } else {
        &mut st.calls.grpc_streams
    };
    match list.iter().position(|t| *t == token) {
        Some(i) => {
            list.remove(i);
            Status::Ok
        }
        None => Status::NotFound,
    }
}

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_grpc_call",
        |mut caller: Caller<'_, HostState>,
         svc_ptr: i32,
         svc_len: i32,
         _service_ptr: i32,
         _service_len: i32,
         _method_ptr: i32,
         _method_len: i32,
         _md_ptr: i32,
         _md_len: i32,
         _msg_ptr: i32,
         _msg_len: i32,
         _timeout_ms: i32,
         token_ptr: i32|
         -> HostResult {
            restricted(&caller, "env.proxy_grpc_call")?;
            let s = check_cluster(&mut caller, svc_ptr, svc_len)?;
            if s != Status::Ok {
                return ok(s);
            }
            let (mem, st) = memory::split(&mut caller)?;
            let t = new_token(st, false);
            ok(memory::write_u32(mem, token_ptr, t).map_or_else(Into::into, |_| Status::Ok))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_stream",
        |mut caller: Caller<'_, HostState>,
         svc_ptr: i32,
         svc_len: i32,
         _service_ptr: i32,
         _service_len: i32,
         _method_ptr: i32,
         _method_len: i32,
         _md_ptr: i32,
         _md_len: i32,
         token_ptr: i32|
         -> HostResult {
            restricted(&caller, "env.proxy_grpc_stream")?;
            let s = check_cluster(&mut caller, svc_ptr, svc_len)?;
            if s != Status::Ok {
                return ok(s);
            }
            let (mem, st) = memory::split(&mut caller)?;
            let t = new_token(st, true);
            ok(memory::write_u32(mem, token_ptr, t).map_or_else(Into::into, |_| Status::Ok))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_send",
        |mut caller: Caller<'_, HostState>, token: i32, _ptr: i32, _len: i32, _end: i32| -> HostResult {
            restricted(&caller, "env.proxy_grpc_send")?;
            let st = caller.data_mut();
            let token = token as u32;
            if token % 2 == 1 {
                return ok(Status::BadArgument);
            }
            ok(if st.calls.grpc_streams.contains(&token) {
                Status::Ok
            } else {
                Status::NotFound
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_cancel",
        |mut caller: Caller<'_, HostState>, token: i32| -> HostResult {
            restricted(&caller, "env.proxy_grpc_cancel")?;
            ok(end(caller.data_mut(), token as u32))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_close",
        |mut caller: Caller<'_, HostState>, token: i32| -> HostResult {
            restricted(&caller, "env.proxy_grpc_close")?;
            ok(end(caller.data_mut(), token as u32))
        },
    )?;
    Ok(())
}
