//! The on-disk compile cache: a compiled component per (wasm bytes, engine settings).
//!
//! Compiling a component with Cranelift takes hundreds of milliseconds; loading a cached
//! artifact takes well under one. An entry is only trusted when its digest matches: a
//! corrupt or foreign file is recompiled and replaced, never loaded. A cache dir that
//! cannot be written means working without the cache, with one warning.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::Context;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// First bytes of every cache entry; bump the digit when the layout changes.
const MAGIC: &[u8; 8] = b"conchcw1";
const DIGEST_LEN: usize = 32;

/// Compiled components on disk, or nothing when no usable dir is configured.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: Option<PathBuf>,
}

static UNWRITABLE_WARNING: Once = Once::new();

impl CompileCache {
    /// A cache in `dir` (created on first use); `None` disables caching.
    pub fn new(dir: Option<PathBuf>) -> Self {
        CompileCache { dir }
    }

    /// The cache in `components/` of the user's cache dir (none without one).
    pub fn in_cache_dir() -> Self {
        CompileCache::new(crate::dirs::cache_dir().map(|d| d.join("components")))
    }

    /// Loads the compiled form of `wasm` from the cache, or compiles it and stores it.
    pub fn load_or_compile(&self, engine: &Engine, wasm: &[u8]) -> anyhow::Result<Component> {
        let Some(dir) = &self.dir else {
            return Ok(Component::new(engine, wasm)?);
        };
        let path = dir.join(format!("{}.cwasm", entry_key(engine, wasm)));
        match read_entry(engine, &path) {
            Ok(Some(component)) => {
                tracing::debug!("loaded from the compile cache");
                return Ok(component);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), "discarding a bad compile cache entry: {e:#}")
            }
        }
        let compiled = engine
            .precompile_component(wasm)
            .map_err(anyhow::Error::from)
            .context("compiling the component")?;
        tracing::debug!("compiled");
        if let Err(e) = write_entry(dir, &path, &compiled) {
            UNWRITABLE_WARNING.call_once(|| {
                tracing::warn!(
                    "the compile cache at {} cannot be written ({e:#}); plugins will be compiled on every run",
                    dir.display()
                );
            });
        }
        deserialize(engine, &compiled)
    }
}

/// The file name of an entry: the wasm's digest and the engine's compatibility hash, so
/// a new conch version or other engine settings never pick up an old artifact.
fn entry_key(engine: &Engine, wasm: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = Sha256::digest(wasm);
    format!("{}-{:016x}", hex(&digest[..16]), hasher.finish())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `Ok(None)` when there is no entry; `Err` when there is one that cannot be trusted.
fn read_entry(engine: &Engine, path: &Path) -> anyhow::Result<Option<Component>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).context("reading it"),
    };
    let header = MAGIC.len() + DIGEST_LEN;
    anyhow::ensure!(
        bytes.len() > header && bytes.starts_with(MAGIC),
        "unknown format"
    );
    let started = std::time::Instant::now();
    let (digest, payload) = bytes[MAGIC.len()..].split_at(DIGEST_LEN);
    anyhow::ensure!(
        Sha256::digest(payload).as_slice() == digest,
        "digest mismatch"
    );
    let verified = started.elapsed();
    let component = deserialize(engine, payload)?;
    tracing::debug!(
        bytes = bytes.len(),
        ?verified,
        deserialized = ?started.elapsed(),
        "loaded from the compile cache"
    );
    Ok(Some(component))
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, compiled: &[u8]) -> anyhow::Result<Component> {
    // SAFETY: `compiled` was produced by `precompile_component` on an engine with the
    // same compatibility hash (it is in the file name), and its digest was checked, so
    // these are bytes wasmtime itself wrote, not bytes anyone could have altered.
    Ok(unsafe { Component::deserialize(engine, compiled) }?)
}

/// Writes an entry atomically: a temp file in the same dir, renamed into place.
fn write_entry(dir: &Path, path: &Path, compiled: &[u8]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).context("creating a temp file")?;
    tmp.write_all(MAGIC)?;
    tmp.write_all(&Sha256::digest(compiled))?;
    tmp.write_all(compiled)?;
    tmp.persist(path).context("renaming into place")?;
    Ok(())
}
