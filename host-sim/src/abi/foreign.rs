//! Foreign functions: `proxy_call_foreign_function`.
//!
//! Envoy registers its foreign functions in `source/extensions/common/wasm/foreign.cc`. Simulated:
//! `clear_route_cache` (Envoy >= 1.33, PR #36671): OK with an empty result, counted on the stream.
//! Every other name is NOT_FOUND (as on an Envoy that lacks it; the Rust SDK maps it to `Err`).

use wasmtime::{Caller, Linker};

use super::{ok, restricted, HostResult, Status};
use crate::memory;
use crate::state::HostState;

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_call_foreign_function",
        |mut caller: Caller<'_, HostState>,
         nptr: i32,
         nlen: i32,
         _aptr: i32,
         _alen: i32,
         ptr_ptr: i32,
         size_ptr: i32|
         -> HostResult {
            restricted(&caller, "env.proxy_call_foreign_function")?;
            let name = match memory::read_vec(&mut caller, nptr, nlen)? {
                Ok(n) => n,
                Err(e) => return ok(e.into()),
            };
            match name.as_slice() {
                b"clear_route_cache" => {
                    if let Some(s) = caller.data_mut().stream() {
                        s.route_cache_clears += 1;
                    }
                    ok(memory::copy_out(&mut caller, &[], ptr_ptr, size_ptr)?)
                }
                _ => ok(Status::NotFound),
            }
        },
    )?;
    Ok(())
}
