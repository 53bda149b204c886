//! Loading a module: one `Engine` and `Linker` per process, one compiled `Module`/`InstancePre` per
//! distinct module (cached by content), a fresh `Store` per simulated VM.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use wasmtime::{Config, Engine, ExternType, InstancePre, Linker, Module};

use crate::error::Error;
use crate::state::HostState;
use crate::vm::SimBuilder;

/// The epoch advances every `EPOCH_TICK`; a callback's time limit is counted in these ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

pub(crate) struct Runtime {
    pub engine: Engine,
    linker: Linker<HostState>,
    provided: HashSet<(String, String)>,
}

fn runtime() -> Result<&'static Runtime, Error> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let mut config = Config::new();
            // A runaway guest (an endless loop) must fail the test, not hang it: every store gets a deadline.
            config.epoch_interruption(true);
            let engine = Engine::new(&config).map_err(|e| e.to_string())?;
            let mut linker = Linker::new(&engine);
            crate::abi::add_to_linker(&mut linker).map_err(|e| e.to_string())?;
            let mut provided = HashSet::new();
            for name in crate::abi::PROXY_WASM_FUNCTIONS {
                provided.insert(("env".to_string(), name.to_string()));
            }
            for name in crate::abi::wasi::wasi_function_names() {
                provided.insert(("wasi_snapshot_preview1".to_string(), name.to_string()));
            }
            let ticker = engine.clone();
            std::thread::Builder::new()
                .name("host-sim-epoch".into())
                .spawn(move || loop {
                    std::thread::sleep(EPOCH_TICK);
                    ticker.increment_epoch();
                })
                .map_err(|e| e.to_string())?;
            Ok(Runtime {
                engine,
                linker,
                provided,
            })
        })
        .as_ref()
        .map_err(|e| Error::Load(format!("cannot create the wasmtime engine: {e}")))
}

pub(crate) struct PluginInner {
    pub pre: InstancePre<HostState>,
    pub engine: Engine,
    pub source: String,
}

/// A compiled proxy-wasm module, ready to start VMs from. Cheap to clone; compiled once per process.
#[derive(Clone)]
pub struct Plugin {
    pub(crate) inner: Arc<PluginInner>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("source", &self.inner.source)
            .finish()
    }
}

impl Plugin {
    /// Loads (or fetches from the process-wide cache) the module at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Plugin, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::Load(format!("{}: {e}", path.display())))?;
        Plugin::compile(&bytes, path.display().to_string())
    }

    /// Compiles (or fetches from the cache) a module from its binary.
    pub fn from_bytes(bytes: &[u8]) -> Result<Plugin, Error> {
        Plugin::compile(bytes, "<bytes>".into())
    }

    /// The workspace's release build of the routewise filter: `$ROUTEWISE_WASM` if set, else
    /// `target/wasm32-wasip1/wasm/routewise.wasm` under the workspace root.
    pub fn routewise() -> Result<Plugin, Error> {
        let path = default_routewise_wasm();
        if !path.exists() {
            return Err(Error::Load(format!(
                "{} does not exist; build it with `cargo build --profile wasm --target wasm32-wasip1 -p routewise-proxy-wasm` \
                 or point ROUTEWISE_WASM at a module",
                path.display()
            )));
        }
        Plugin::load(path)
    }

    /// Starts describing a VM of this module (configuration, options), see [`SimBuilder`].
    pub fn sim(&self) -> SimBuilder {
        SimBuilder::new(self.clone())
    }

    fn compile(bytes: &[u8], source: String) -> Result<Plugin, Error> {
        static CACHE: OnceLock<Mutex<HashMap<(u64, usize), Plugin>>> = OnceLock::new();
        let mut h = DefaultHasher::new();
        bytes.hash(&mut h);
        let key = (h.finish(), bytes.len());
        // Held while compiling: two tests loading the same module wait for one compilation.
        let mut cache = CACHE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(p) = cache.get(&key) {
            return Ok(p.clone());
        }
        let rt = runtime()?;
        let module = compile_cached(rt, bytes).map_err(|e| Error::Load(format!("{source}: {e:#}")))?;
        check_module(&module, rt)?;
        let pre = rt
            .linker
            .instantiate_pre(&module)
            .map_err(|e| Error::Load(format!("{source}: {e:#}")))?;
        let plugin = Plugin {
            inner: Arc::new(PluginInner {
                pre,
                engine: rt.engine.clone(),
                source,
            }),
        };
        cache.insert(key, plugin.clone());
        Ok(plugin)
    }
}

/// Compiles with Cranelift, or loads the artifact an earlier process compiled for the same bytes (a CLI
/// replay of a 1.5 MB filter then starts in milliseconds instead of seconds). The cache lives in
/// `$HOST_SIM_CACHE_DIR`, else `target/host-sim-cache` in the workspace; `HOST_SIM_CACHE_DIR=off` disables it.
fn compile_cached(rt: &Runtime, bytes: &[u8]) -> wasmtime::Result<Module> {
    use sha2::{Digest, Sha256};
    let dir = match std::env::var_os("HOST_SIM_CACHE_DIR") {
        Some(d) if d == "off" => None,
        Some(d) => Some(PathBuf::from(d)),
        None => Some(workspace_root().join("target"))
            .filter(|t| t.is_dir())
            .map(|t| t.join("host-sim-cache")),
    };
    let Some(dir) = dir else {
        return Module::new(&rt.engine, bytes);
    };
    let hex: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    let file = dir.join(format!("{hex}.cwasm"));
    if file.exists() {
        // SAFETY: only host-sim writes this directory (atomically, via rename), the name is the SHA-256 of
        // the module, and wasmtime rejects artifacts from another wasmtime version or engine configuration.
        if let Ok(m) = unsafe { Module::deserialize_file(&rt.engine, &file) } {
            return Ok(m);
        }
    }
    let module = Module::new(&rt.engine, bytes)?;
    // The cache is an optimisation: failing to write it is not an error.
    if let Ok(art) = module.serialize() {
        let tmp = dir.join(format!("{hex}.{}.tmp", std::process::id()));
        if std::fs::create_dir_all(&dir).is_ok()
            && std::fs::write(&tmp, art).is_ok()
            && std::fs::rename(&tmp, &file).is_err()
        {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    Ok(module)
}

/// Checks what cpp-host checks before starting a VM, with messages that name the culprit.
fn check_module(module: &Module, rt: &Runtime) -> Result<(), Error> {
    let unknown: Vec<String> = module
        .imports()
        .filter(|i| {
            !(matches!(i.ty(), ExternType::Func(_))
                && rt
                    .provided
                    .contains(&(i.module().to_string(), i.name().to_string())))
        })
        .map(|i| format!("{}.{}", i.module(), i.name()))
        .collect();
    if !unknown.is_empty() {
        return Err(Error::UnknownImports(unknown));
    }
    let exports: HashSet<&str> = module.exports().map(|e| e.name()).collect();
    if !exports.contains("memory") {
        return Err(Error::Load(
            "the module does not export its memory as `memory`".into(),
        ));
    }
    if !exports.contains("proxy_on_memory_allocate") && !exports.contains("malloc") {
        return Err(Error::Load(
            "the module exports neither `proxy_on_memory_allocate` nor `malloc`".into(),
        ));
    }
    if !exports.contains("proxy_abi_version_0_2_1") && !exports.contains("proxy_abi_version_0_2_0") {
        return Err(Error::Load(
            "the module does not export `proxy_abi_version_0_2_1` (or 0_2_0): not a proxy-wasm ABI 0.2 module".into(),
        ));
    }
    Ok(())
}

/// `$ROUTEWISE_WASM`, else `target/wasm32-wasip1/wasm/routewise.wasm` in the workspace root.
pub fn default_routewise_wasm() -> PathBuf {
    if let Some(p) = std::env::var_os("ROUTEWISE_WASM") {
        return PathBuf::from(p);
    }
    workspace_root().join("target/wasm32-wasip1/wasm/routewise.wasm")
}

/// The workspace root: `$CARGO_WORKSPACE_DIR` if set, else the parent of this crate's manifest directory
/// (host-sim lives at `<root>/host-sim`), else the current directory.
pub fn workspace_root() -> PathBuf {
    if let Some(p) = std::env::var_os("CARGO_WORKSPACE_DIR") {
        return PathBuf::from(p);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    match here.parent() {
        Some(p) if p.join("Cargo.toml").exists() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
