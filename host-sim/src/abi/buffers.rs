//! Buffers: `proxy_get_buffer_bytes`, `proxy_set_buffer_bytes`, `proxy_get_buffer_status`.
//!
//! Envoy `Context::getBuffer` / `Buffer::copyFrom` (source/extensions/common/wasm/context.cc):
//! - a body buffer is the current chunk, or everything buffered so far while the filter buffers
//!   (`addDecodedData` runs before the callback, so `body_size` is the total);
//! - `set` supports exactly three shapes: prepend `(0, 0)`, replace all `(0, >= len)`, append
//!   `(>= len, _)`; any other range is BAD_ARGUMENT (the SDK then panics);
//! - buffers that do not exist in the current callback are NOT_FOUND (plugin configuration outside the
//!   root context's `on_context_create` and `on_configure`, HTTP-call body outside
//!   `on_http_call_response`); the others read as empty, and an
//!   empty read is NOT_FOUND (cpp-host `get_buffer_bytes` with length 0).

use wasmtime::{Caller, Linker};

use super::{ok, restricted, HostResult, Status};
use crate::memory;
use crate::state::{Dir, HostState};

const MAX_TYPE: i32 = 8;

enum Buf {
    /// No such buffer in this callback.
    Missing,
    /// Readable copy (immutable).
    Const(Vec<u8>),
    /// A stream body the filter may modify.
    Body(Dir),
}

fn resolve(st: &mut HostState, ty: i32) -> Buf {
    let body = |st: &mut HostState, dir: Dir| match st.stream().map(|s| s.half(dir).body_avail) {
        Some(true) => Buf::Body(dir),
        _ => Buf::Const(Vec::new()),
    };
    match ty {
        0 => body(st, Dir::Request),
        1 => body(st, Dir::Response),
        4 => match &st.calls.current_response {
            Some((_, b, _)) => Buf::Const(b.clone()),
            None => Buf::Missing,
        },
        6 => Buf::Const(st.plugin.vm_config.clone()),
        // Each root context reads its own plugin's configuration (`temp_plugin_`, set on that root only).
        7 => match st.ctx.configuring {
            Some(root) if root == st.ctx.effective => st
                .ctx
                .roots
                .get(&root)
                .map_or(Buf::Missing, |r| Buf::Const(r.config.clone())),
            _ => Buf::Missing,
        },
        // Downstream/upstream data (no TCP streams here), gRPC receive buffer, foreign-call data.
        _ => Buf::Const(Vec::new()),
    }
}

fn bytes_of(st: &mut HostState, buf: &Buf) -> Vec<u8> {
    match buf {
        Buf::Missing => Vec::new(),
        Buf::Const(b) => b.clone(),
        Buf::Body(dir) => st.stream().map(|s| s.half(*dir).body.clone()).unwrap_or_default(),
    }
}

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut caller: Caller<'_, HostState>,
         ty: i32,
         start: i32,
         max: i32,
         ptr_ptr: i32,
         size_ptr: i32|
         -> HostResult {
            restricted(&caller, "env.proxy_get_buffer_bytes")?;
            if !(0..=MAX_TYPE).contains(&ty) {
                return ok(Status::BadArgument);
            }
            let st = caller.data_mut();
            let buf = resolve(st, ty);
            if let Buf::Missing = buf {
                return ok(Status::NotFound);
            }
            let data = bytes_of(st, &buf);
            let (start, max) = (start as u32 as usize, max as u32 as usize);
            if (start as u32).checked_add(max as u32).is_none() {
                return ok(Status::BadArgument);
            }
            if start >= data.len() {
                return ok(Status::NotFound);
            }
            let end = start + max.min(data.len() - start);
            if end == start {
                return ok(Status::NotFound);
            }
            let out = data[start..end].to_vec();
            ok(memory::copy_out(&mut caller, &out, ptr_ptr, size_ptr)?)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_buffer_bytes",
        |mut caller: Caller<'_, HostState>,
         ty: i32,
         start: i32,
         size: i32,
         data_ptr: i32,
         data_size: i32|
         -> HostResult {
            restricted(&caller, "env.proxy_set_buffer_bytes")?;
            if !(0..=MAX_TYPE).contains(&ty) {
                return ok(Status::BadArgument);
            }
            let data = match memory::read_vec(&mut caller, data_ptr, data_size)? {
                Ok(d) => d,
                Err(e) => return ok(e.into()),
            };
            let st = caller.data_mut();
            let dir = match resolve(st, ty) {
                Buf::Missing => return ok(Status::NotFound),
                // Envoy's string buffers (configuration, call data) and absent bodies are immutable.
                Buf::Const(_) => return ok(Status::BadArgument),
                Buf::Body(dir) => dir,
            };
            let Some(stream) = st.stream() else {
                return ok(Status::NotFound);
            };
            let body = &mut stream.half(dir).body;
            let (start, size) = (start as u32 as usize, size as u32 as usize);
            // Envoy's `Buffer::copyFrom` (source/extensions/common/wasm/context.cc): from the start, drain `size`
            // bytes (all of them when `size` is larger) and prepend the data, which replaces a prefix, the whole
            // body, or (size 0) prepends; at or past the end, append; any other start is BAD_ARGUMENT.
            if start == 0 {
                let drained = size.min(body.len());
                body.splice(0..drained, data);
            } else if start >= body.len() {
                body.extend_from_slice(&data);
            } else {
                return ok(Status::BadArgument);
            }
            ok(Status::Ok)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_buffer_status",
        |mut caller: Caller<'_, HostState>, ty: i32, size_ptr: i32, flags_ptr: i32| -> HostResult {
            restricted(&caller, "env.proxy_get_buffer_status")?;
            if !(0..=MAX_TYPE).contains(&ty) {
                return ok(Status::BadArgument);
            }
            let (mem, st) = memory::split(&mut caller)?;
            let buf = resolve(st, ty);
            if let Buf::Missing = buf {
                return ok(Status::NotFound);
            }
            let len = bytes_of(st, &buf).len() as u32;
            let r = memory::write_u32(mem, size_ptr, len).and_then(|_| memory::write_u32(mem, flags_ptr, 0));
            ok(r.map_or_else(Into::into, |_| Status::Ok))
        },
    )?;
    Ok(())
}
