//! Metrics: `proxy_define_metric`, `proxy_record_metric`, `proxy_increment_metric`, `proxy_get_metric`.
//!
//! Envoy `Context::{define,increment,record,get}Metric` (source/extensions/common/wasm/context.cc):
//! ids carry the type in their low two bits (`Wasm::kMetricTypeMask`); defining a name twice gives a new
//! id for the same stat; counter increment by <= 0 is BAD_ARGUMENT; record on a counter adds, on a gauge
//! sets; gauges go up and down; histograms only record; `get` on a histogram is BAD_ARGUMENT. Envoy's
//! admin `/stats` shows a metric `foo` as `wasmcustom.foo` (`/stats/prometheus` as `foo`); here it is `foo`.

use wasmtime::{Caller, Linker};

use super::{ok, restricted, HostResult, Status};
use crate::memory;
use crate::state::{HostState, MetricKind, MetricValue};

fn kind_of(id: u32) -> Option<MetricKind> {
    match id & 3 {
        0 => Some(MetricKind::Counter),
        1 => Some(MetricKind::Gauge),
        2 => Some(MetricKind::Histogram),
        _ => None,
    }
}

fn value_mut(st: &mut HostState, id: u32) -> Option<&mut MetricValue> {
    let name = st.metrics.ids.get(&id)?;
    st.metrics.stats.get_mut(name).map(|(_, v)| v)
}

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_define_metric",
        |mut caller: Caller<'_, HostState>, ty: i32, nptr: i32, nlen: i32, ret: i32| -> HostResult {
            restricted(&caller, "env.proxy_define_metric")?;
            let kind = match ty {
                0 => MetricKind::Counter,
                1 => MetricKind::Gauge,
                2 => MetricKind::Histogram,
                _ => return ok(Status::BadArgument),
            };
            let name = match memory::read_vec(&mut caller, nptr, nlen)? {
                Ok(n) => String::from_utf8_lossy(&n).into_owned(),
                Err(e) => return ok(e.into()),
            };
            let (mem, st) = memory::split(&mut caller)?;
            let m = &mut st.metrics;
            m.next[ty as usize] += 1;
            let id = m.next[ty as usize] * 4 + ty as u32;
            m.ids.insert(id, name.clone());
            m.stats.entry(name).or_insert_with(|| {
                let v = if kind == MetricKind::Histogram {
                    MetricValue::Histogram(Vec::new())
                } else {
                    MetricValue::Value(0)
                };
                (kind, v)
            });
            ok(memory::write_u32(mem, ret, id).map_or_else(Into::into, |_| Status::Ok))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_record_metric",
        |mut caller: Caller<'_, HostState>, id: i32, value: i64| -> HostResult {
            restricted(&caller, "env.proxy_record_metric")?;
            let id = id as u32;
            let kind = kind_of(id);
            let Some(v) = value_mut(caller.data_mut(), id) else {
                return ok(Status::NotFound);
            };
            match (kind, v) {
                (Some(MetricKind::Counter), MetricValue::Value(x)) => *x = x.wrapping_add(value),
                (Some(MetricKind::Gauge), MetricValue::Value(x)) => *x = value,
                (Some(MetricKind::Histogram), MetricValue::Histogram(h)) => h.push(value as u64),
                _ => return ok(Status::NotFound),
            }
            ok(Status::Ok)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_increment_metric",
        |mut caller: Caller<'_, HostState>, id: i32, offset: i64| -> HostResult {
            restricted(&caller, "env.proxy_increment_metric")?;
            let id = id as u32;
            let kind = kind_of(id);
            if !matches!(kind, Some(MetricKind::Counter | MetricKind::Gauge)) {
                return ok(Status::BadArgument);
            }
            let Some(MetricValue::Value(x)) = value_mut(caller.data_mut(), id) else {
                return ok(Status::NotFound);
            };
            if kind == Some(MetricKind::Counter) && offset <= 0 {
                return ok(Status::BadArgument);
            }
            *x = x.wrapping_add(offset);
            ok(Status::Ok)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_metric",
        |mut caller: Caller<'_, HostState>, id: i32, ret: i32| -> HostResult {
            restricted(&caller, "env.proxy_get_metric")?;
            let id = id as u32;
            if !matches!(kind_of(id), Some(MetricKind::Counter | MetricKind::Gauge)) {
                return ok(Status::BadArgument);
            }
            let (mem, st) = memory::split(&mut caller)?;
            let Some(MetricValue::Value(x)) = value_mut(st, id).cloned() else {
                return ok(Status::NotFound);
            };
            ok(memory::write_u64(mem, ret, x as u64).map_or_else(Into::into, |_| Status::Ok))
        },
    )?;
    Ok(())
}
