//! The built-in plugins, packaged by `host/build.rs` and carried inside the binary: each
//! one's manifest and imports as they are (all a run's start reads), its component
//! compressed (needed only to compile it), and its artifact precompiled for a baseline
//! CPU, so that loading it needs no Cranelift. The artifacts of the built-ins the agent
//! loop calls, and web's (the largest), are embedded as they are, and on x86-64 their
//! code runs where it lies in the binary; the small others are compressed, and
//! decompressed at their first call into memory of their own, where their code runs
//! likewise.

use std::sync::OnceLock;

use wasmtime::Engine;
use wasmtime::component::Component;

use super::cache::CompileCache;
use super::manifest::{ManifestError, PluginInfo};

/// Bytes that start on a page boundary (the artifacts' code sections are page-aligned
/// within them, and pages are what can be made executable).
#[repr(C, align(4096))]
pub struct PageAligned<T: ?Sized>(pub T);

/// The alignment of [`PageAligned`]: x86-64's page size.
const PAGE: usize = 4096;
const _: () = assert!(std::mem::align_of::<PageAligned<[u8; 0]>>() == PAGE);

/// How build.rs compressed some bytes.
pub enum Codec {
    /// Raw deflate at its highest level: the smallest, for a component, which only the
    /// fallback compile reads.
    Deflate,
    /// One LZ4 HC block: ~10% larger, decompressed ~8x faster, for an artifact, which
    /// a first call waits for.
    Lz4,
}

/// Bytes build.rs compressed, and how many they decompress to.
pub struct Compressed {
    codec: Codec,
    bytes: &'static [u8],
    len: usize,
}

impl Compressed {
    /// Decompresses into `out`, which must be exactly as long as the bytes build.rs had.
    fn decompress_into(&self, out: &mut [u8]) -> Result<(), String> {
        let written = match self.codec {
            Codec::Deflate => miniz_oxide::inflate::decompress_slice_iter_to_slice(
                out,
                std::iter::once(self.bytes),
                false,
                true,
            )
            .map_err(|status| format!("cannot decompress it: {status:?}"))?,
            Codec::Lz4 => {
                let len = i32::try_from(out.len()).map_err(|_| "it is too large".to_string())?;
                lz4::block::decompress_to_buffer(self.bytes, Some(len), out)
                    .map_err(|e| format!("cannot decompress it: {e}"))?
            }
        };
        if written != self.len {
            return Err(format!(
                "it decompresses to {written} bytes, not {}",
                self.len
            ));
        }
        Ok(())
    }

    /// The bytes as build.rs had them, decompressed into memory of their own, kept for
    /// the rest of the process (as the built-ins are): anonymous and page-aligned, so
    /// that an artifact's code can run where it lies, as an embedded artifact's does;
    /// its pages made present in one call up front rather than by a fault each as they
    /// are written.
    #[allow(unsafe_code)]
    fn decompress_for_good(&self) -> Result<&'static [u8], String> {
        if self.len == 0 {
            return Err("it is empty".into());
        }
        // SAFETY: a new private anonymous mapping; nothing else refers to it.
        let memory = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                self.len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if memory == libc::MAP_FAILED {
            let error = std::io::Error::last_os_error();
            return Err(format!("cannot map memory to decompress it into: {error}"));
        }
        // SAFETY: the mapping is `len` bytes, readable and writable, and only this
        // slice refers to it; it is never unmapped once filled, so it lives as long as
        // the process.
        let out = unsafe { std::slice::from_raw_parts_mut(memory.cast::<u8>(), self.len) };
        if let Err(e) = self.decompress_into(out) {
            // SAFETY: unmapping the mapping made above, which nothing refers to now.
            unsafe { libc::munmap(memory, self.len) };
            return Err(e);
        }
        Ok(out)
    }
}

/// A built-in's artifact, as the binary carries it.
pub enum Artifact {
    /// As it is, its code run in place (x86-64): a built-in of the agent loop's, or web.
    InPlace(&'static PageAligned<[u8]>),
    /// Compressed: a small built-in a run may never call.
    Compressed(Compressed),
}

/// One built-in plugin.
pub struct Builtin {
    pub name: &'static str,
    /// Its manifest (JSON), the one packaged into its component.
    manifest: &'static [u8],
    /// The names of its component's top-level imports.
    imports: &'static [&'static str],
    /// Its packaged component.
    wasm: Compressed,
    /// Its component precompiled for the baseline CPU.
    artifact: Artifact,
    /// `wasm` decompressed, once someone needs it.
    wasm_decompressed: OnceLock<Result<&'static [u8], String>>,
    /// `artifact` decompressed, when it is compressed, once someone loads it.
    artifact_decompressed: OnceLock<Result<&'static [u8], String>>,
}

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// Built-in `name`.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|builtin| builtin.name == name)
}

impl Builtin {
    /// Its manifest and imports, checked as [`PluginInfo::read`] checks a component's,
    /// without decompressing the component.
    pub fn info(&self) -> Result<PluginInfo, ManifestError> {
        let imports = self.imports.iter().map(|i| i.to_string()).collect();
        PluginInfo::from_parts(self.manifest, imports)
    }

    /// Its packaged component (decompressed the first time).
    pub fn wasm(&self) -> Result<&[u8], String> {
        self.wasm_decompressed
            .get_or_init(|| {
                tracing::debug!(plugin = self.name, "decompressing its component");
                self.wasm.decompress_for_good()
            })
            .as_ref()
            .map(|wasm| *wasm)
            .map_err(|e| format!("built-in {}: {e}", self.name))
    }

    /// Its embedded artifact, loaded (see [`deserialize_in_place`]): where it lies in
    /// the binary when it is embedded as it is, else where it was decompressed to, once
    /// per process.
    fn deserialize(&self, engine: &Engine) -> anyhow::Result<Component> {
        let artifact = match &self.artifact {
            Artifact::InPlace(artifact) => &artifact.0,
            Artifact::Compressed(compressed) => self
                .artifact_decompressed
                .get_or_init(|| {
                    tracing::debug!(plugin = self.name, "decompressing its artifact");
                    compressed.decompress_for_good()
                })
                .as_ref()
                .map_err(|e| anyhow::anyhow!("its artifact: {e}"))?,
        };
        deserialize_in_place(engine, artifact)
    }
}

/// The environment variable that, set to `native`, has the built-ins compiled for this
/// machine's CPU (into the compile cache) instead of loaded from their baseline
/// artifacts: to measure one against the other, or to use CPU features past the baseline.
pub const CODE_VAR: &str = "CONCH_BUILTINS";

/// Loads `builtin`: its embedded artifact when this machine and `engine` can run it,
/// else its component compiled through `cache` like any plugin (a CPU without a baseline
/// feature, or engine settings that changed since the build).
pub fn load(
    engine: &Engine,
    cache: &CompileCache,
    builtin: &'static Builtin,
) -> anyhow::Result<Component> {
    let native = std::env::var_os(CODE_VAR).is_some_and(|v| v == "native");
    if !native {
        match builtin.deserialize(engine) {
            Ok(component) => return Ok(component),
            Err(e) => {
                tracing::debug!(
                    plugin = builtin.name,
                    "the embedded artifact does not fit: {e:#}"
                )
            }
        }
    }
    cache.load_or_compile(engine, builtin.wasm().map_err(anyhow::Error::msg)?)
}

/// Loads a built-in's artifact, embedded as it is or decompressed for good. On x86-64,
/// in place the first time in this process: `engine` makes code executable with
/// [`InPlaceCode`], so nothing is copied (and of an embedded one, only the pages of code
/// a run executes are ever read in). Otherwise copied into memory of wasmtime's own:
/// wasmtime registers code by its address, once per process, so a second load of one
/// artifact (a second registry, as in the tests) cannot share it.
#[allow(unsafe_code)]
fn deserialize_in_place(engine: &Engine, artifact: &'static [u8]) -> anyhow::Result<Component> {
    // SAFETY: the artifact was written by `precompile_component` in build.rs and is part
    // of this binary (or was decompressed from it), as trusted as the code running;
    // wasmtime checks that its target, settings and CPU features suit `engine` and this
    // machine before using it. In place, it is static and never written again, as
    // `deserialize_raw` requires.
    #[cfg(target_arch = "x86_64")]
    if claim_in_place(artifact) {
        match unsafe { Component::deserialize_raw(engine, std::ptr::NonNull::from(artifact)) } {
            Ok(component) => return Ok(component),
            Err(e) => tracing::debug!("cannot load it in place, copying it: {e:#}"),
        }
    }
    Ok(unsafe { Component::deserialize(engine, artifact) }?)
}

/// Whether `artifact` may be loaded in place: true the first time it is asked for it in
/// this process.
#[cfg(target_arch = "x86_64")]
fn claim_in_place(artifact: &'static [u8]) -> bool {
    static CLAIMED: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());
    let mut claimed = CLAIMED.lock().unwrap_or_else(|p| p.into_inner());
    let start = artifact.as_ptr().addr();
    if claimed.contains(&start) {
        return false;
    }
    claimed.push(start);
    true
}

/// How the engine makes compiled code executable (and back): `mprotect`, wherever the
/// code lies, including a built-in's artifact inside the binary. x86-64 keeps its
/// instruction cache coherent by itself, so no flush is needed, unlike on other
/// architectures, which keep wasmtime's own way and copy the artifacts.
#[cfg(target_arch = "x86_64")]
#[derive(Debug)]
pub struct InPlaceCode;

#[cfg(target_arch = "x86_64")]
impl InPlaceCode {
    #[allow(unsafe_code)]
    fn protect(ptr: *const u8, len: usize, prot: libc::c_int) -> wasmtime::Result<()> {
        // SAFETY: wasmtime passes the page-aligned code section of an artifact it loaded
        // (ours, in the binary, or its own copy or compilation), which it no longer
        // writes; only its permissions change.
        let rc = unsafe { libc::mprotect(ptr.cast_mut().cast(), len, prot) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(())
    }

    /// Whether `ptr` lies in an artifact embedded as it is.
    fn is_embedded(ptr: *const u8) -> bool {
        BUILTINS.iter().any(|builtin| match &builtin.artifact {
            Artifact::InPlace(artifact) => artifact.0.as_ptr_range().contains(&ptr),
            Artifact::Compressed(_) => false,
        })
    }
}

#[cfg(target_arch = "x86_64")]
impl wasmtime::CustomCodeMemory for InPlaceCode {
    fn required_alignment(&self) -> usize {
        PAGE
    }

    fn publish_executable(&self, ptr: *const u8, len: usize) -> wasmtime::Result<()> {
        Self::protect(ptr, len, libc::PROT_READ | libc::PROT_EXEC)
    }

    fn unpublish_executable(&self, ptr: *const u8, len: usize) -> wasmtime::Result<()> {
        // A built-in's code in the binary is never written, and is loaded in place at
        // most once: it simply stays executable.
        if Self::is_embedded(ptr) {
            return Ok(());
        }
        Self::protect(ptr, len, libc::PROT_READ | libc::PROT_WRITE)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::plugin::engine::new_engine;
    use crate::plugin::engine_config::code_config;

    fn cache_entries(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
    }

    fn shell() -> &'static Builtin {
        builtin("shell").unwrap()
    }

    #[test]
    fn every_builtin_loads_from_its_embedded_artifact_without_compiling() {
        let engine = new_engine().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(Some(dir.path().to_path_buf()));
        for builtin in &BUILTINS {
            builtin.deserialize(&engine).unwrap();
            load(&engine, &cache, builtin).unwrap();
        }
        assert_eq!(cache_entries(dir.path()), 0, "nothing was compiled");
    }

    #[test]
    fn the_agent_loops_builtins_and_web_run_in_place_and_the_others_are_compressed() {
        let in_place: Vec<_> = BUILTINS
            .iter()
            .filter(|b| matches!(b.artifact, Artifact::InPlace(_)))
            .map(|b| b.name)
            .collect();
        assert_eq!(in_place, ["fs", "edit", "shell", "web", "session"]);
    }

    #[test]
    fn what_start_reads_of_a_builtin_is_what_its_component_says() {
        for builtin in &BUILTINS {
            let embedded = builtin.info().unwrap();
            let read = PluginInfo::read(builtin.wasm().unwrap()).unwrap();
            assert_eq!(embedded.imports, read.imports, "{}", builtin.name);
            assert!(!embedded.imports.is_empty(), "{}", builtin.name);
            assert_eq!(
                format!("{:?}", embedded.manifest),
                format!("{:?}", read.manifest),
                "{}",
                builtin.name
            );
        }
    }

    #[test]
    fn a_corrupt_compressed_component_is_an_error_not_a_crash() {
        let truncated = Compressed {
            codec: Codec::Deflate,
            bytes: &shell().wasm.bytes[..100],
            len: shell().wasm.len,
        };
        assert!(truncated.decompress_for_good().is_err());
        let longer = Compressed {
            codec: Codec::Deflate,
            bytes: shell().wasm.bytes,
            len: shell().wasm.len + 1,
        };
        assert!(longer.decompress_for_good().is_err());
        let shorter = Compressed {
            codec: Codec::Deflate,
            bytes: shell().wasm.bytes,
            len: shell().wasm.len - 1,
        };
        assert!(shorter.decompress_for_good().is_err());
    }

    #[test]
    fn a_builtin_loaded_by_two_registries_still_runs_when_one_is_dropped() {
        use crate::plugin::{CallLimits, PluginRegistry};
        // wasmtime registers code by address, once: the second load must not reuse the
        // first's pages, and dropping the first must leave the second running.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "still running\n").unwrap();
        let ctx = crate::workspace::context_for(dir.path()).unwrap();
        let limits = CallLimits::default();
        let cache = tempfile::tempdir().unwrap();
        let registry =
            || PluginRegistry::with_builtins(CompileCache::new(Some(cache.path().to_path_buf())));
        let read = |registry: &PluginRegistry| {
            registry
                .call("read", r#"{"path":"a.txt"}"#, &ctx, &limits)
                .unwrap()
                .text
        };
        let (first, second) = (registry(), registry());
        assert!(read(&first).contains("still running"));
        assert!(read(&second).contains("still running"));
        drop(first);
        assert!(read(&second).contains("still running"));
        assert!(read(&registry()).contains("still running"));
        assert_eq!(cache_entries(cache.path()), 0, "nothing was compiled");
    }

    #[test]
    fn an_engine_with_other_settings_compiles_into_the_cache() {
        // Epoch checks off: the embedded code (with them) would not suit this engine.
        let mut config = code_config();
        config.epoch_interruption(false);
        let engine = Engine::new(&config).unwrap();
        assert!(shell().deserialize(&engine).is_err());
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(Some(dir.path().to_path_buf()));
        load(&engine, &cache, shell()).unwrap();
        assert_eq!(cache_entries(dir.path()), 1, "compiled and cached");
    }

    /// This machine's answer for every x86 feature wasmtime asks about, except SSE4.2,
    /// which the x86-64-v2 baseline needs: a CPU older than the baseline.
    #[cfg(target_arch = "x86_64")]
    fn host_without_sse42(feature: &str) -> Option<bool> {
        use std::arch::is_x86_feature_detected as has;
        Some(match feature {
            "sse4.2" => false,
            "cmpxchg16b" => has!("cmpxchg16b"),
            "sse3" => has!("sse3"),
            "ssse3" => has!("ssse3"),
            "sse4.1" => has!("sse4.1"),
            "popcnt" => has!("popcnt"),
            "avx" => has!("avx"),
            "avx2" => has!("avx2"),
            "fma" => has!("fma"),
            "avxvnni" => has!("avxvnni"),
            "bmi1" => has!("bmi1"),
            "bmi2" => has!("bmi2"),
            "avx512bitalg" => has!("avx512bitalg"),
            "avx512dq" => has!("avx512dq"),
            "avx512f" => has!("avx512f"),
            "avx512vl" => has!("avx512vl"),
            "avx512vbmi" => has!("avx512vbmi"),
            "avx512vnni" => has!("avx512vnni"),
            "lzcnt" => has!("lzcnt"),
            _ => return None,
        })
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    #[allow(unsafe_code)]
    fn a_cpu_without_a_baseline_feature_compiles_into_the_cache() {
        let mut config = code_config();
        // SAFETY: the engine is told of one feature fewer than the CPU has, and compiles
        // without it, so its code only uses what the CPU has.
        unsafe {
            config
                .detect_host_feature(host_without_sse42)
                .cranelift_flag_set("has_sse42", "false");
        }
        let engine = Engine::new(&config).unwrap();
        // A built-in embedded as it is, and one compressed: both compile from the
        // decompressed component.
        for builtin in [shell(), builtin("skill").unwrap()] {
            let refused = builtin.deserialize(&engine).unwrap_err();
            assert!(format!("{refused:?}").contains("has_sse42"), "{refused:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(Some(dir.path().to_path_buf()));
        load(&engine, &cache, shell()).unwrap();
        assert_eq!(cache_entries(dir.path()), 1, "compiled and cached");
        // The second time it comes from the cache.
        load(&engine, &cache, shell()).unwrap();
        assert_eq!(cache_entries(dir.path()), 1);
        load(&engine, &cache, builtin("mcp").unwrap()).unwrap();
        assert_eq!(
            cache_entries(dir.path()),
            2,
            "the compressed one compiled too"
        );
    }
}
