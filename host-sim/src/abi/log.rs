//! Logging, clock and timer: `proxy_log`, `proxy_get_log_level`, `proxy_get_current_time_nanoseconds`,
//! `proxy_set_tick_period_milliseconds`.

use wasmtime::{Caller, Linker};

use super::{ok, restricted, HostResult, Status};
use crate::memory;
use crate::state::{HostState, LogLevel};

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_log",
        |mut caller: Caller<'_, HostState>, level: i32, ptr: i32, len: i32| -> HostResult {
            let (mem, st) = memory::split(&mut caller)?;
            // Envoy's `Context::log` has no case for levels above critical; cpp-host rejects them.
            let Some(level) = LogLevel::from_i32(level) else {
                return ok(Status::BadArgument);
            };
            let msg = match memory::read(mem, ptr, len) {
                Ok(b) => String::from_utf8_lossy(b).into_owned(),
                Err(e) => return ok(e.into()),
            };
            let ctx = st.ctx.effective;
            st.log.push(level, msg, ctx);
            ok(Status::Ok)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_log_level",
        |mut caller: Caller<'_, HostState>, ret: i32| -> HostResult {
            restricted(&caller, "env.proxy_get_log_level")?;
            let (mem, st) = memory::split(&mut caller)?;
            let level = st.log.level.unwrap_or(LogLevel::Trace) as u32;
            ok(memory::write_u32(mem, ret, level).map_or_else(Into::into, |_| Status::Ok))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_current_time_nanoseconds",
        |mut caller: Caller<'_, HostState>, ret: i32| -> HostResult {
            restricted(&caller, "env.proxy_get_current_time_nanoseconds")?;
            let (mem, st) = memory::split(&mut caller)?;
            ok(memory::write_u64(mem, ret, st.clock.now_ns).map_or_else(Into::into, |_| Status::Ok))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_tick_period_milliseconds",
        |mut caller: Caller<'_, HostState>, period: i32| -> HostResult {
            restricted(&caller, "env.proxy_set_tick_period_milliseconds")?;
            // cpp-host `setTimerPeriod(root_context()->id(), period)`: the period belongs to the root context
            // of the calling context, and Envoy's `Wasm::setTimerPeriod` restarts that root's timer, which
            // first fires one period from now (0 stops it).
            let st = caller.data_mut();
            let now = st.clock.mono_ns;
            let Some(root) = st.ctx.root_of(st.ctx.effective) else {
                // Only reachable through `Sim::call_export` with a context id that does not exist.
                return ok(Status::BadArgument);
            };
            if let Some(r) = st.ctx.roots.get_mut(&root) {
                r.tick_period_ms = period as u32;
                r.next_tick_ns = now + u64::from(period as u32) * 1_000_000;
            }
            ok(Status::Ok)
        },
    )?;
    Ok(())
}
