//! HTTP callouts: `proxy_http_call`.
//!
//! Envoy `Context::httpCall`: a negative timeout, an unknown cluster, or headers without `:path`,
//! `:method` and `:authority` are BAD_ARGUMENT; a body sets `content-length`. The response arrives later
//! through `proxy_on_http_call_response`, which the simulator delivers when the test (or its handler)
//! answers.

use wasmtime::{Caller, Linker};

use super::{ok, restricted, HostResult, Status};
use crate::http::{parse_pairs, Headers};
use crate::memory;
use crate::state::{HostState, HttpCall, PendingCall};

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_http_call",
        |mut caller: Caller<'_, HostState>,
         up_ptr: i32,
         up_len: i32,
         h_ptr: i32,
         h_len: i32,
         b_ptr: i32,
         b_len: i32,
         t_ptr: i32,
         t_len: i32,
         timeout_ms: i32,
         token_ptr: i32|
         -> HostResult {
            restricted(&caller, "env.proxy_http_call")?;
            let (cluster, raw_h, body, raw_t) = match (
                memory::read_vec(&mut caller, up_ptr, up_len)?,
                memory::read_vec(&mut caller, h_ptr, h_len)?,
                memory::read_vec(&mut caller, b_ptr, b_len)?,
                memory::read_vec(&mut caller, t_ptr, t_len)?,
            ) {
                (Ok(c), Ok(h), Ok(b), Ok(t)) => (c, h, b, t),
                _ => return ok(Status::InvalidMemoryAccess),
            };
            if timeout_ms < 0 {
                return ok(Status::BadArgument);
            }
            let cluster = String::from_utf8_lossy(&cluster).into_owned();
            let (Some(h), Some(t)) = (parse_pairs(&raw_h), parse_pairs(&raw_t)) else {
                return ok(Status::BadArgument);
            };
            let mut headers = Headers::from_guest_pairs(h);
            let trailers = Headers::from_guest_pairs(t);
            let st = caller.data_mut();
            if let Some(known) = &st.calls.clusters {
                if !known.contains(&cluster) {
                    return ok(Status::BadArgument);
                }
            }
            if headers.get(":path").is_none()
                || headers.get(":method").is_none()
                || headers.get(":authority").is_none()
            {
                return ok(Status::BadArgument);
            }
            if !body.is_empty() {
                headers.set("content-length", &body.len().to_string());
            }
            st.calls.next_token += 1;
            let token = st.calls.next_token;
            let call = HttpCall {
                token,
                context_id: st.ctx.effective,
                cluster,
                headers,
                body,
                trailers,
                timeout_ms: timeout_ms as u32,
            };
            let deadline = if timeout_ms > 0 {
                st.clock.mono_ns + timeout_ms as u64 * 1_000_000
            } else {
                u64::MAX
            };
            st.calls.history.push(call.clone());
            if let Some(stream) = st.stream() {
                stream.http_calls.push(call.clone());
            }
            // The root context of the caller owns the call (cpp-host `http_call`).
            let root = st.ctx.root_of(st.ctx.effective).unwrap_or(st.ctx.root_id);
            st.calls.pending.push(PendingCall {
                call,
                deadline_ns: deadline,
                root,
            });
            let (mem, _) = memory::split(&mut caller)?;
            ok(memory::write_u32(mem, token_ptr, token).map_or_else(Into::into, |_| Status::Ok))
        },
    )?;
    Ok(())
}
