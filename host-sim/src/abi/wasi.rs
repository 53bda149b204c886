//! WASI preview 1 (`wasi_snapshot_preview1`), the subset of a proxy-wasm host.
//!
//! Like cpp-host (`include/proxy-wasm/exports.h`, `src/exports.cc`), every preview-1 name is provided so
//! any Rust `wasm32-wasip1` module links; the ones a proxy has no use for return ENOTCAPABLE (76).
//! Implemented: `fd_write` (stdout logged at info, stderr at error, one entry per call without the final
//! newline), `fd_fdstat_get` for stdout/stderr, `fd_prestat_get` (EBADF: no preopened directories),
//! `environ_*` (the simulator's environment, empty by default as in Envoy without `vm_config.
//! environment_variables`), `args_*` (none), `clock_time_get`/`clock_res_get` (realtime and monotonic
//! are the simulator's clocks, which only move when a test advances time), `random_get` (a
//! deterministic generator, so runs are reproducible), `sched_yield`, and `proc_exit`, which traps.
//! During VM start only the functions of `ALLOWED_DURING_START` may be called (cpp-host
//! `WasmBase::startVm`); `fd_close`, `fd_read`, `fd_seek`, `path_open`, `proc_exit`, `proc_raise` and
//! `sched_yield` then trap with `restricted_callback`.

use wasmtime::{Caller, FuncType, Linker, Val, ValType};

use super::{restricted, ALLOWED_DURING_START};
use crate::memory::{self, OutOfBounds};
use crate::state::{HostState, LogLevel};

const SUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EFAULT: i32 = 21;
const EINVAL: i32 = 28;
const ENOTCAPABLE: i32 = 76;

fn errno(r: Result<(), OutOfBounds>) -> i32 {
    r.map_or(EFAULT, |_| SUCCESS)
}

const M: &str = "wasi_snapshot_preview1";

/// Every preview-1 function not implemented above, with its exact signature (`I` = i32, `L` = i64);
/// all return an i32 errno.
const STUBS: &[(&str, &str)] = &[
    ("fd_advise", "ILLI"),
    ("fd_allocate", "ILL"),
    ("fd_close", "I"),
    ("fd_datasync", "I"),
    ("fd_fdstat_set_flags", "II"),
    ("fd_fdstat_set_rights", "ILL"),
    ("fd_filestat_get", "II"),
    ("fd_filestat_set_size", "IL"),
    ("fd_filestat_set_times", "ILLI"),
    ("fd_pread", "IIILI"),
    ("fd_prestat_dir_name", "III"),
    ("fd_pwrite", "IIILI"),
    ("fd_read", "IIII"),
    ("fd_readdir", "IIILI"),
    ("fd_renumber", "II"),
    ("fd_seek", "ILII"),
    ("fd_sync", "I"),
    ("fd_tell", "II"),
    ("path_create_directory", "III"),
    ("path_filestat_get", "IIIII"),
    ("path_filestat_set_times", "IIIILLI"),
    ("path_link", "IIIIIII"),
    ("path_open", "IIIIILLII"),
    ("path_readlink", "IIIIII"),
    ("path_remove_directory", "III"),
    ("path_rename", "IIIIII"),
    ("path_symlink", "IIIII"),
    ("path_unlink_file", "III"),
    ("poll_oneoff", "IIII"),
    ("proc_raise", "I"),
    ("sock_accept", "III"),
    ("sock_recv", "IIIIII"),
    ("sock_send", "IIIII"),
    ("sock_shutdown", "II"),
];

/// Names of every WASI function the simulator links.
pub fn wasi_function_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = STUBS.iter().map(|(n, _)| *n).collect();
    v.extend([
        "args_get",
        "args_sizes_get",
        "environ_get",
        "environ_sizes_get",
        "clock_res_get",
        "clock_time_get",
        "random_get",
        "fd_write",
        "fd_fdstat_get",
        "fd_prestat_get",
        "sched_yield",
        "proc_exit",
    ]);
    v
}

fn env_strings(st: &HostState) -> Vec<Vec<u8>> {
    st.wasi
        .env
        .iter()
        .map(|(k, v)| format!("{k}={v}\0").into_bytes())
        .collect()
}

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let engine = linker.engine().clone();
    for (name, sig) in STUBS {
        let params = sig
            .chars()
            .map(|c| if c == 'L' { ValType::I64 } else { ValType::I32 });
        let ty = FuncType::new(&engine, params, [ValType::I32]);
        let qualified = format!("{M}.{name}");
        let allowed = ALLOWED_DURING_START.contains(&qualified.as_str());
        linker.func_new(M, name, ty, move |caller, _args, results| {
            if !allowed {
                restricted(&caller, &qualified)?;
            }
            results[0] = Val::I32(ENOTCAPABLE);
            Ok(())
        })?;
    }
    linker.func_wrap(
        M,
        "args_sizes_get",
        |mut caller: Caller<'_, HostState>, argc: i32, size: i32| -> wasmtime::Result<i32> {
            let (mem, _) = memory::split(&mut caller)?;
            Ok(errno(
                memory::write_u32(mem, argc, 0).and_then(|_| memory::write_u32(mem, size, 0)),
            ))
        },
    )?;
    linker.func_wrap(
        M,
        "args_get",
        |_: Caller<'_, HostState>, _argv: i32, _buf: i32| -> wasmtime::Result<i32> { Ok(SUCCESS) },
    )?;
    linker.func_wrap(
        M,
        "environ_sizes_get",
        |mut caller: Caller<'_, HostState>, count: i32, size: i32| -> wasmtime::Result<i32> {
            let (mem, st) = memory::split(&mut caller)?;
            let strings = env_strings(st);
            let total: usize = strings.iter().map(Vec::len).sum();
            Ok(errno(
                memory::write_u32(mem, count, strings.len() as u32)
                    .and_then(|_| memory::write_u32(mem, size, total as u32)),
            ))
        },
    )?;
    linker.func_wrap(
        M,
        "environ_get",
        |mut caller: Caller<'_, HostState>, environ: i32, buf: i32| -> wasmtime::Result<i32> {
            let (mem, st) = memory::split(&mut caller)?;
            let strings = env_strings(st);
            let r = (|| {
                let mut at = buf as u32;
                for (i, s) in strings.iter().enumerate() {
                    memory::write_u32(mem, environ.wrapping_add(4 * i as i32), at)?;
                    memory::write(mem, at as i32, s)?;
                    at += s.len() as u32;
                }
                Ok(())
            })();
            Ok(errno(r))
        },
    )?;
    linker.func_wrap(
        M,
        "clock_res_get",
        |mut caller: Caller<'_, HostState>, id: i32, ret: i32| -> wasmtime::Result<i32> {
            let (mem, _) = memory::split(&mut caller)?;
            if !(0..=3).contains(&id) {
                return Ok(EINVAL);
            }
            Ok(errno(memory::write_u64(mem, ret, 1)))
        },
    )?;
    linker.func_wrap(
        M,
        "clock_time_get",
        |mut caller: Caller<'_, HostState>, id: i32, _precision: i64, ret: i32| -> wasmtime::Result<i32> {
            let (mem, st) = memory::split(&mut caller)?;
            let t = match id {
                0 => st.clock.now_ns,
                1..=3 => st.clock.mono_ns,
                _ => return Ok(EINVAL),
            };
            Ok(errno(memory::write_u64(mem, ret, t)))
        },
    )?;
    linker.func_wrap(
        M,
        "random_get",
        |mut caller: Caller<'_, HostState>, buf: i32, len: i32| -> wasmtime::Result<i32> {
            let (mem, st) = memory::split(&mut caller)?;
            let mut bytes = vec![0u8; len as u32 as usize];
            for b in &mut bytes {
                // xorshift64*: deterministic, so HashMap seeds and generated ids repeat from run to run.
                let mut x = st.wasi.rng;
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                st.wasi.rng = x;
                *b = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
            }
            Ok(errno(memory::write(mem, buf, &bytes)))
        },
    )?;
    linker.func_wrap(
        M,
        "fd_write",
        |mut caller: Caller<'_, HostState>,
         fd: i32,
         iovs: i32,
         iovs_len: i32,
         nwritten: i32|
         -> wasmtime::Result<i32> {
            let (mem, st) = memory::split(&mut caller)?;
            let level = match fd {
                1 => LogLevel::Info,
                2 => LogLevel::Error,
                _ => return Ok(EBADF),
            };
            let r = (|| {
                let mut out = Vec::new();
                for i in 0..iovs_len.max(0) {
                    let base = iovs.wrapping_add(8 * i);
                    let ptr = memory::read_u32(mem, base)?;
                    let len = memory::read_u32(mem, base.wrapping_add(4))?;
                    out.extend_from_slice(memory::read(mem, ptr as i32, len as i32)?);
                }
                memory::write_u32(mem, nwritten, out.len() as u32)?;
                Ok(out)
            })();
            match r {
                Ok(out) => {
                    let text = String::from_utf8_lossy(&out);
                    let text = text.strip_suffix('\n').unwrap_or(&text).to_string();
                    let ctx = st.ctx.effective;
                    st.log.push(level, text, ctx);
                    Ok(SUCCESS)
                }
                Err(OutOfBounds) => Ok(EFAULT),
            }
        },
    )?;
    linker.func_wrap(
        M,
        "fd_fdstat_get",
        |mut caller: Caller<'_, HostState>, fd: i32, buf: i32| -> wasmtime::Result<i32> {
            let (mem, _) = memory::split(&mut caller)?;
            if fd != 1 && fd != 2 {
                return Ok(EBADF);
            }
            // fdstat: u8 filetype (2 = character device), u16 flags at 2, u64 rights at 8 and 16.
            let mut stat = [0u8; 24];
            stat[0] = 2;
            stat[8..16].copy_from_slice(&(1u64 << 6).to_le_bytes()); // fd_write right
            Ok(errno(memory::write(mem, buf, &stat)))
        },
    )?;
    linker.func_wrap(
        M,
        "fd_prestat_get",
        |_: Caller<'_, HostState>, _fd: i32, _buf: i32| -> wasmtime::Result<i32> { Ok(EBADF) },
    )?;
    linker.func_wrap(
        M,
        "sched_yield",
        |caller: Caller<'_, HostState>| -> wasmtime::Result<i32> {
            restricted(&caller, "wasi_snapshot_preview1.sched_yield")?;
            Ok(SUCCESS)
        },
    )?;
    linker.func_wrap(
        M,
        "proc_exit",
        |caller: Caller<'_, HostState>, code: i32| -> wasmtime::Result<()> {
            restricted(&caller, "wasi_snapshot_preview1.proc_exit")?;
            wasmtime::bail!("guest called proc_exit({code}); a proxy-wasm module must not exit")
        },
    )?;
    Ok(())
}
