//! Context: `proxy_done`, `proxy_set_effective_context`.

use wasmtime::{Caller, Linker};

use super::{ok, restricted, HostResult, Status};
use crate::state::HostState;

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    // Only a root context that returned false from `on_done` may call it (VM shutdown); elsewhere
    // cpp-host finds no pending "done" and answers NOT_FOUND.
    linker.func_wrap(
        "env",
        "proxy_done",
        |mut caller: Caller<'_, HostState>| -> HostResult {
            restricted(&caller, "env.proxy_done")?;
            let st = caller.data_mut();
            if st.ctx.effective == st.ctx.root_id && st.ctx.done_called {
                ok(Status::Ok)
            } else {
                ok(Status::NotFound)
            }
        },
    )?;
    // OK for the root context and every live stream context; BAD_ARGUMENT otherwise (the SDK unwraps it).
    linker.func_wrap(
        "env",
        "proxy_set_effective_context",
        |mut caller: Caller<'_, HostState>, id: i32| -> HostResult {
            restricted(&caller, "env.proxy_set_effective_context")?;
            let st = caller.data_mut();
            let id = id as u32;
            if id == st.ctx.root_id || st.ctx.streams.contains_key(&id) {
                st.ctx.effective = id;
                ok(Status::Ok)
            } else {
                ok(Status::BadArgument)
            }
        },
    )?;
    Ok(())
}
