//! Context: `proxy_done`, `proxy_set_effective_context`.

use wasmtime::{Caller, Linker};

use super::{ok, restricted, HostResult, Status};
use crate::state::{Deferred, HostState, RootPhase};

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    // cpp-host `WasmBase::done`: only a plugin whose root context returned false from `on_done` (it was
    // being finished: a config push replaced it) may call it, from its root or one of its contexts; the
    // root's `on_delete` then runs after the current call. Elsewhere cpp-host finds no pending "done" and
    // answers NOT_FOUND.
    linker.func_wrap(
        "env",
        "proxy_done",
        |mut caller: Caller<'_, HostState>| -> HostResult {
            restricted(&caller, "env.proxy_done")?;
            let st = caller.data_mut();
            let root = st.ctx.root_of(st.ctx.effective);
            match root.and_then(|r| st.ctx.roots.get_mut(&r).map(|d| (r, d))) {
                Some((root, data)) if data.phase == RootPhase::PendingDone => {
                    data.phase = RootPhase::Deleting;
                    st.deferred.push(Deferred::DeleteRoot { root });
                    ok(Status::Ok)
                }
                _ => ok(Status::NotFound),
            }
        },
    )?;
    // OK for every live root context (several after a config push) and every live stream context
    // (cpp-host `getContext`); BAD_ARGUMENT otherwise (the SDK unwraps it).
    linker.func_wrap(
        "env",
        "proxy_set_effective_context",
        |mut caller: Caller<'_, HostState>, id: i32| -> HostResult {
            restricted(&caller, "env.proxy_set_effective_context")?;
            let st = caller.data_mut();
            let id = id as u32;
            if st.ctx.is_live(id) {
                st.ctx.effective = id;
                ok(Status::Ok)
            } else {
                ok(Status::BadArgument)
            }
        },
    )?;
    Ok(())
}
