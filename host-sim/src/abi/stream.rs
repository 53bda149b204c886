//! Stream control: `proxy_continue_stream`, `proxy_close_stream`, `proxy_get_status`,
//! `proxy_send_local_response`.
//!
//! Envoy runs all three stream actions as deferred "after VM call" actions (`addAfterVmCallAction`): the
//! callback returns first, then the action runs. `continue_stream` also drops the context's request
//! header/body/trailer pointers, for either stream type (the `switch` in `Context::continueStream` falls
//! through to the reset for Request and Response). Downstream is OK, Upstream UNIMPLEMENTED.

use wasmtime::{Caller, Linker};

use super::{ok, restricted, HostResult, Status};
use crate::http::{parse_pairs, Headers};
use crate::memory;
use crate::state::{Deferred, Dir, HostState};

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_continue_stream",
        |mut caller: Caller<'_, HostState>, ty: i32| -> HostResult {
            restricted(&caller, "env.proxy_continue_stream")?;
            let st = caller.data_mut();
            let dir = match ty {
                0 => Dir::Request,
                1 => Dir::Response,
                2 => return ok(Status::Ok),
                3 => return ok(Status::Unimplemented),
                _ => return ok(Status::BadArgument),
            };
            let ctx = st.ctx.effective;
            if let Some(s) = st.stream() {
                let r = &mut s.request;
                r.headers_avail = false;
                r.trailers_avail = false;
                if !r.buffering {
                    r.body_avail = false;
                }
                st.deferred.push(Deferred::Continue { ctx, dir });
            }
            ok(Status::Ok)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_close_stream",
        |mut caller: Caller<'_, HostState>, ty: i32| -> HostResult {
            restricted(&caller, "env.proxy_close_stream")?;
            let st = caller.data_mut();
            match ty {
                0 | 1 => {
                    let ctx = st.ctx.effective;
                    if let Some(s) = st.stream() {
                        if s.response_code_details.is_none() {
                            s.response_code_details = Some("wasm_close_stream".into());
                        }
                        st.deferred.push(Deferred::Close { ctx });
                    }
                    ok(Status::Ok)
                }
                2 | 3 => ok(Status::Ok),
                _ => ok(Status::BadArgument),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_status",
        |mut caller: Caller<'_, HostState>,
         code_ptr: i32,
         msg_ptr_ptr: i32,
         msg_size_ptr: i32|
         -> HostResult {
            restricted(&caller, "env.proxy_get_status")?;
            let (mem, st) = memory::split(&mut caller)?;
            let (code, msg) = st.calls.status.clone();
            if let Err(e) = memory::write_u32(mem, code_ptr, code) {
                return ok(e.into());
            }
            ok(memory::copy_out(
                &mut caller,
                msg.as_bytes(),
                msg_ptr_ptr,
                msg_size_ptr,
            )?)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut caller: Caller<'_, HostState>,
         status: i32,
         details_ptr: i32,
         details_len: i32,
         body_ptr: i32,
         body_len: i32,
         headers_ptr: i32,
         headers_len: i32,
         grpc_status: i32|
         -> HostResult {
            restricted(&caller, "env.proxy_send_local_response")?;
            let (details, body, raw_headers) = match (
                memory::read_vec(&mut caller, details_ptr, details_len)?,
                memory::read_vec(&mut caller, body_ptr, body_len)?,
                memory::read_vec(&mut caller, headers_ptr, headers_len)?,
            ) {
                (Ok(d), Ok(b), Ok(h)) => (d, b, h),
                _ => return ok(Status::InvalidMemoryAccess),
            };
            let Some(pairs) = parse_pairs(&raw_headers) else {
                return ok(Status::BadArgument);
            };
            let st = caller.data_mut();
            let ctx = st.ctx.effective;
            if st.stream().is_some() {
                // `StringUtil::replaceAllEmptySpace(details)`.
                let details = String::from_utf8_lossy(&details).replace(char::is_whitespace, "_");
                st.deferred.push(Deferred::LocalReply {
                    ctx,
                    status: status as u32,
                    body,
                    headers: Headers::from_guest_pairs(pairs),
                    details,
                    grpc_status,
                });
            }
            ok(Status::Ok)
        },
    )?;
    Ok(())
}
