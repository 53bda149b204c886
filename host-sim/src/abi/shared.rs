//! Shared key-value data and shared queues: `proxy_{set,get}_shared_data`,
//! `proxy_{register,resolve,enqueue,dequeue}_shared_queue`.
//!
//! cpp-host `SharedData`/`SharedQueue` (src/shared_data.cc, src/shared_queue.cc): data is per VM id;
//! `set` with a non-zero `cas` that differs from the stored one is CAS_MISMATCH (a missing key accepts
//! any cas); every write gets a new cas. Registering a queue twice returns the same id; enqueue wakes
//! the registering context with `on_queue_ready` (asynchronously: after the current callback).

use wasmtime::{Caller, Linker};

use super::{ok, restricted, HostResult, Status};
use crate::memory;
use crate::state::{HostState, Queue};

fn lock(st: &HostState) -> std::sync::MutexGuard<'_, crate::state::SharedStore> {
    // A poisoned lock only means another test thread panicked while holding it; the data is still usable.
    st.shared.0.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_set_shared_data",
        |mut caller: Caller<'_, HostState>,
         kptr: i32,
         klen: i32,
         vptr: i32,
         vlen: i32,
         cas: i32|
         -> HostResult {
            restricted(&caller, "env.proxy_set_shared_data")?;
            let (key, value) = match (
                memory::read_vec(&mut caller, kptr, klen)?,
                memory::read_vec(&mut caller, vptr, vlen)?,
            ) {
                (Ok(k), Ok(v)) => (k, v),
                _ => return ok(Status::InvalidMemoryAccess),
            };
            let st = caller.data();
            let vm = st.plugin.vm_id.clone();
            let mut store = lock(st);
            let cas = cas as u32;
            if let Some((_, current)) = store.data.get(&(vm.clone(), key.clone())) {
                if cas != 0 && cas != *current {
                    return ok(Status::CasMismatch);
                }
            }
            let next = store.next_cas();
            store.data.insert((vm, key), (value, next));
            ok(Status::Ok)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_shared_data",
        |mut caller: Caller<'_, HostState>,
         kptr: i32,
         klen: i32,
         ptr_ptr: i32,
         size_ptr: i32,
         cas_ptr: i32|
         -> HostResult {
            restricted(&caller, "env.proxy_get_shared_data")?;
            let key = match memory::read_vec(&mut caller, kptr, klen)? {
                Ok(k) => k,
                Err(e) => return ok(e.into()),
            };
            let st = caller.data();
            let found = lock(st).data.get(&(st.plugin.vm_id.clone(), key)).cloned();
            let Some((value, cas)) = found else {
                return ok(Status::NotFound);
            };
            let s = memory::copy_out(&mut caller, &value, ptr_ptr, size_ptr)?;
            if s != Status::Ok {
                return ok(s);
            }
            let (mem, _) = memory::split(&mut caller)?;
            ok(memory::write_u32(mem, cas_ptr, cas).map_or_else(Into::into, |_| Status::Ok))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_register_shared_queue",
        |mut caller: Caller<'_, HostState>, nptr: i32, nlen: i32, ret: i32| -> HostResult {
            restricted(&caller, "env.proxy_register_shared_queue")?;
            let name = match memory::read_vec(&mut caller, nptr, nlen)? {
                Ok(n) => String::from_utf8_lossy(&n).into_owned(),
                Err(e) => return ok(e.into()),
            };
            let (mem, st) = memory::split(&mut caller)?;
            // `on_queue_ready` goes to the root context of the registering context (cpp-host
            // `ContextBase::registerSharedQueue`: `isRootContext() ? id_ : parent_context_id_`).
            let ctx = st.ctx.root_of(st.ctx.effective).unwrap_or(st.ctx.effective);
            let vm = st.plugin.vm_id.clone();
            let mut store = lock(st);
            let id = match store.queues.iter().position(|q| q.vm_id == vm && q.name == name) {
                Some(i) => {
                    store.queues[i].owner_context = ctx;
                    i + 1
                }
                None => {
                    store.queues.push(Queue {
                        vm_id: vm,
                        name,
                        owner_context: ctx,
                        items: Default::default(),
                    });
                    store.queues.len()
                }
            };
            drop(store);
            ok(memory::write_u32(mem, ret, id as u32).map_or_else(Into::into, |_| Status::Ok))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_resolve_shared_queue",
        |mut caller: Caller<'_, HostState>,
         vptr: i32,
         vlen: i32,
         nptr: i32,
         nlen: i32,
         ret: i32|
         -> HostResult {
            restricted(&caller, "env.proxy_resolve_shared_queue")?;
            let (vm, name) = match (
                memory::read_vec(&mut caller, vptr, vlen)?,
                memory::read_vec(&mut caller, nptr, nlen)?,
            ) {
                (Ok(v), Ok(n)) => (
                    String::from_utf8_lossy(&v).into_owned(),
                    String::from_utf8_lossy(&n).into_owned(),
                ),
                _ => return ok(Status::InvalidMemoryAccess),
            };
            let (mem, st) = memory::split(&mut caller)?;
            // An empty VM id means "this VM" in cpp-host.
            let vm = if vm.is_empty() {
                st.plugin.vm_id.clone()
            } else {
                vm
            };
            let pos = lock(st)
                .queues
                .iter()
                .position(|q| q.vm_id == vm && q.name == name);
            let Some(i) = pos else { return ok(Status::NotFound) };
            ok(memory::write_u32(mem, ret, i as u32 + 1).map_or_else(Into::into, |_| Status::Ok))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_enqueue_shared_queue",
        |mut caller: Caller<'_, HostState>, id: i32, vptr: i32, vlen: i32| -> HostResult {
            restricted(&caller, "env.proxy_enqueue_shared_queue")?;
            let value = match memory::read_vec(&mut caller, vptr, vlen)? {
                Ok(v) => v,
                Err(e) => return ok(e.into()),
            };
            let st = caller.data_mut();
            let mut store = lock(st);
            let Some(q) = (id as u32 as usize)
                .checked_sub(1)
                .and_then(|i| store.queues.get_mut(i))
            else {
                return ok(Status::NotFound);
            };
            q.items.push_back(value);
            let notify = (q.vm_id == st.plugin.vm_id).then_some((q.owner_context, id as u32));
            drop(store);
            if let Some(n) = notify {
                st.queue_ready.push(n);
            }
            ok(Status::Ok)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_dequeue_shared_queue",
        |mut caller: Caller<'_, HostState>, id: i32, ptr_ptr: i32, size_ptr: i32| -> HostResult {
            restricted(&caller, "env.proxy_dequeue_shared_queue")?;
            let st = caller.data();
            let item = {
                let mut store = lock(st);
                let Some(q) = (id as u32 as usize)
                    .checked_sub(1)
                    .and_then(|i| store.queues.get_mut(i))
                else {
                    return ok(Status::NotFound);
                };
                q.items.pop_front()
            };
            let Some(item) = item else {
                return ok(Status::Empty);
            };
            ok(memory::copy_out(&mut caller, &item, ptr_ptr, size_ptr)?)
        },
    )?;
    Ok(())
}
