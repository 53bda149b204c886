//! The one way host functions touch guest memory: every read and write is bounds-checked here.
//!
//! A bad guest pointer is the guest's fault, not the host's: proxy-wasm host functions turn it into
//! `INVALID_MEMORY_ACCESS` (cpp-host `WasmVm::getMemory`/`setWord` failing) and WASI functions into
//! `EFAULT`, never into a host panic.

use wasmtime::Caller;

use crate::abi::Status;
use crate::state::HostState;

/// A guest pointer/length pair that does not fit inside linear memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutOfBounds;

impl From<OutOfBounds> for Status {
    fn from(_: OutOfBounds) -> Status {
        Status::InvalidMemoryAccess
    }
}

/// The byte range `ptr..ptr+len` if it lies inside `mem` (pointers and sizes are unsigned wasm32 values).
fn range(mem_len: usize, ptr: i32, len: i32) -> Result<std::ops::Range<usize>, OutOfBounds> {
    let start = ptr as u32 as usize;
    let end = start.checked_add(len as u32 as usize).ok_or(OutOfBounds)?;
    if end <= mem_len {
        Ok(start..end)
    } else {
        Err(OutOfBounds)
    }
}

pub(crate) fn read(mem: &[u8], ptr: i32, len: i32) -> Result<&[u8], OutOfBounds> {
    Ok(&mem[range(mem.len(), ptr, len)?])
}

pub(crate) fn write(mem: &mut [u8], ptr: i32, bytes: &[u8]) -> Result<(), OutOfBounds> {
    let len = i32::try_from(bytes.len()).map_err(|_| OutOfBounds)?;
    let r = range(mem.len(), ptr, len)?;
    mem[r].copy_from_slice(bytes);
    Ok(())
}

pub(crate) fn read_u32(mem: &[u8], ptr: i32) -> Result<u32, OutOfBounds> {
    let b = read(mem, ptr, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

pub(crate) fn write_u32(mem: &mut [u8], ptr: i32, v: u32) -> Result<(), OutOfBounds> {
    write(mem, ptr, &v.to_le_bytes())
}

pub(crate) fn write_u64(mem: &mut [u8], ptr: i32, v: u64) -> Result<(), OutOfBounds> {
    write(mem, ptr, &v.to_le_bytes())
}

/// Guest memory and host state, borrowed together.
pub(crate) fn split<'a>(
    caller: &'a mut Caller<'_, HostState>,
) -> wasmtime::Result<(&'a mut [u8], &'a mut HostState)> {
    let Some(mem) = caller.data().memory else {
        // Host bug: instantiation checks that the module exports its memory.
        wasmtime::bail!("host-sim bug: guest memory not recorded before a host call");
    };
    Ok(mem.data_and_store_mut(caller))
}

/// Reads a guest byte range into an owned vector (so the state can be borrowed afterwards).
pub(crate) fn read_vec(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Result<Vec<u8>, OutOfBounds>> {
    let (mem, _) = split(caller)?;
    Ok(read(mem, ptr, len).map(<[u8]>::to_vec))
}

/// Hands `bytes` to the guest the way Envoy does (cpp-host `copyToPointerSize`): allocate exactly
/// `bytes.len()` with the guest's allocator, copy, write pointer and size. Empty data is (0, 0) with no
/// allocation. The Rust SDK takes ownership with `Vec::from_raw_parts(ptr, len, len)`.
pub(crate) fn copy_out(
    caller: &mut Caller<'_, HostState>,
    bytes: &[u8],
    ptr_ptr: i32,
    size_ptr: i32,
) -> wasmtime::Result<Status> {
    let mut ptr = 0u32;
    if !bytes.is_empty() {
        let Some(alloc) = caller.data().alloc.clone() else {
            wasmtime::bail!("host-sim bug: guest allocator not recorded before a host call");
        };
        let Ok(len) = i32::try_from(bytes.len()) else {
            return Ok(Status::InvalidMemoryAccess);
        };
        ptr = alloc.call(&mut *caller, len)? as u32;
        if ptr == 0 {
            return Ok(Status::InvalidMemoryAccess);
        }
    }
    let (mem, _) = split(caller)?;
    let r = (|| {
        if ptr != 0 {
            write(mem, ptr as i32, bytes)?;
        }
        write_u32(mem, ptr_ptr, ptr)?;
        write_u32(mem, size_ptr, bytes.len() as u32)
    })();
    Ok(match r {
        Ok(()) => Status::Ok,
        Err(e) => e.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked_as_unsigned_and_without_overflow() {
        let mem = [0u8; 16];
        assert_eq!(read(&mem, 0, 16).map(<[u8]>::len), Ok(16));
        assert_eq!(read(&mem, 16, 0).map(<[u8]>::len), Ok(0));
        assert_eq!(read(&mem, 15, 2), Err(OutOfBounds));
        assert_eq!(read(&mem, -1, 1), Err(OutOfBounds));
        assert_eq!(read(&mem, 8, -1), Err(OutOfBounds));
        let mut mem = [0u8; 8];
        assert_eq!(write_u32(&mut mem, 4, 0x0102_0304), Ok(()));
        assert_eq!(read_u32(&mem, 4), Ok(0x0102_0304));
        assert_eq!(write_u64(&mut mem, 4, 1), Err(OutOfBounds));
    }
}
