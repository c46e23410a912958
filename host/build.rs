//! Builds the plugins (their own workspace, target wasm32-wasip2, their own target dir),
//! embeds each one's manifest, precompiles each built-in for the runtime's engine
//! configuration and a baseline CPU, and generates the table of built-ins that the binary
//! carries: each one's manifest and imports (all a run's start reads), its component
//! compressed (needed only to compile it), and its compiled artifact, as it is when its
//! code runs in place, compressed when it is off the agent loop's path. Fails with the
//! exact command to run when the wasm target cannot be installed.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "src/plugin/engine_config.rs"]
mod engine_config;
#[path = "src/plugin/package.rs"]
mod package;

/// How hard build.rs deflates a component (miniz's scale, 0-10): 9 is within 1% of 10's
/// size at a fraction of its time.
const DEFLATE_LEVEL: u8 = 9;
/// LZ4's high-compression level for an artifact: 12, its slowest and smallest, as
/// build.rs compresses once and decompressing is as fast at any level.
const LZ4HC_LEVEL: i32 = 12;

/// A plugin crate of the plugins workspace.
struct PluginCrate {
    /// The plugin's name (the packaged file is `NAME.wasm`).
    name: &'static str,
    /// Its directory under plugins/.
    dir: &'static str,
    /// The file cargo builds (the crate name with `_`).
    artifact: &'static str,
    /// Whether its artifact is embedded as it is, its code run in place: the agent
    /// loop's built-ins, and web, whose 3.2 MB would take ~2.5 ms to decompress into
    /// fresh memory at its first call (goal: a first call <= 3 ms over the later ones).
    /// The small others are compressed, and decompressed at their first call (~0.2 ms).
    in_place: bool,
}

/// The plugins compiled into the binary.
const BUILTINS: &[PluginCrate] = &[
    PluginCrate {
        name: "fs",
        dir: "fs",
        artifact: "conch_fs.wasm",
        in_place: true,
    },
    PluginCrate {
        name: "edit",
        dir: "edit",
        artifact: "conch_edit.wasm",
        in_place: true,
    },
    PluginCrate {
        name: "shell",
        dir: "shell",
        artifact: "conch_shell.wasm",
        in_place: true,
    },
    PluginCrate {
        name: "web",
        dir: "web",
        artifact: "conch_web.wasm",
        in_place: true,
    },
    PluginCrate {
        name: "session",
        dir: "session",
        artifact: "conch_session.wasm",
        in_place: true,
    },
    PluginCrate {
        name: "skill",
        dir: "skill",
        artifact: "conch_skill.wasm",
        in_place: false,
    },
    PluginCrate {
        name: "mcp",
        dir: "mcp",
        artifact: "conch_mcp.wasm",
        in_place: false,
    },
    PluginCrate {
        name: "lsp",
        dir: "lsp",
        artifact: "conch_lsp.wasm",
        in_place: false,
    },
];
/// Test fixtures: packaged beside the built-ins for the tests, never embedded.
const FIXTURES: &[PluginCrate] = &[PluginCrate {
    name: "hostile",
    dir: "fixtures/hostile",
    artifact: "hostile.wasm",
    in_place: false,
}];
const TARGET: &str = "wasm32-wasip2";

fn main() {
    if let Err(message) = run() {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let host_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let root = host_dir
        .parent()
        .ok_or("host/ has no parent directory")?
        .to_path_buf();
    let plugins = root.join("plugins");
    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    // Not plugins/ as a whole: plugins/target (native test builds) changes all the time.
    for input in [
        "Cargo.toml",
        "Cargo.lock",
        ".cargo",
        "sdk",
        "fs",
        "edit",
        "shell",
        "web",
        "session",
        "skill",
        "mcp",
        "lsp",
        "fixtures",
    ] {
        println!("cargo:rerun-if-changed={}", plugins.join(input).display());
    }
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/plugin/engine_config.rs");

    ensure_wasm_target()?;
    let target_dir = root.join("target").join("plugins");
    build_plugins(&plugins, &target_dir)?;

    let artifacts = target_dir.join(TARGET).join("release");
    let components = target_dir.join("components");
    fs::create_dir_all(&components)
        .map_err(|e| format!("creating {}: {e}", components.display()))?;
    let engine = baseline_engine()?;
    let mut table = String::from("/// The built-in plugins.\n");
    table.push_str(&format!(
        "pub static BUILTINS: [Builtin; {}] = [\n",
        BUILTINS.len()
    ));
    for plugin in BUILTINS {
        let packaged = package(&plugins, &artifacts, &components, plugin)?;
        let wasm =
            fs::read(&packaged).map_err(|e| format!("reading {}: {e}", packaged.display()))?;
        let imports = component_imports(&wasm)
            .map_err(|e| format!("reading the imports of {}: {e}", packaged.display()))?;
        let artifact = precompile(&engine, &packaged, &wasm)?;
        let name = plugin.name;
        let manifest = plugins.join(plugin.dir).join("manifest.json");
        let compressed_wasm = compress(
            &wasm,
            Codec::Deflate,
            &out_dir.join(format!("{name}.wasm.deflate")),
        )?;
        let embedded_artifact = if plugin.in_place {
            format!(
                "Artifact::InPlace(&PageAligned(*include_bytes!({:?})))",
                artifact.display()
            )
        } else {
            let compiled =
                fs::read(&artifact).map_err(|e| format!("reading {}: {e}", artifact.display()))?;
            let path = out_dir.join(format!("{name}.cwasm.lz4"));
            format!(
                "Artifact::Compressed({})",
                compress(&compiled, Codec::Lz4, &path)?
            )
        };
        table.push_str(&format!(
            "    Builtin {{\n        name: {name:?},\n        manifest: include_bytes!({:?}),\n        \
             imports: &{imports:?},\n        wasm: {compressed_wasm},\n        \
             artifact: {embedded_artifact},\n        wasm_decompressed: OnceLock::new(),\n        \
             artifact_decompressed: OnceLock::new(),\n    }},\n",
            manifest.display()
        ));
    }
    for fixture in FIXTURES {
        package(&plugins, &artifacts, &components, fixture)?;
    }
    table.push_str("];\n");
    fs::write(out_dir.join("builtins.rs"), table).map_err(|e| format!("writing builtins.rs: {e}"))
}

/// How a component or an artifact is compressed (the runtime's `Codec`).
#[derive(Debug, Clone, Copy)]
enum Codec {
    Deflate,
    Lz4,
}

/// Writes `bytes` compressed with `codec` to `path` (only when they change, so the binary
/// relinks only then); returns the Rust expression of the `Compressed` that embeds them.
fn compress(bytes: &[u8], codec: Codec, path: &Path) -> Result<String, String> {
    let compressed = match codec {
        Codec::Deflate => miniz_oxide::deflate::compress_to_vec(bytes, DEFLATE_LEVEL),
        Codec::Lz4 => {
            let mode = lz4::block::CompressionMode::HIGHCOMPRESSION(LZ4HC_LEVEL);
            lz4::block::compress(bytes, Some(mode), false)
                .map_err(|e| format!("compressing {}: {e}", path.display()))?
        }
    };
    if fs::read(path).ok().as_deref() != Some(&compressed[..]) {
        fs::write(path, &compressed).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(format!(
        "Compressed {{ codec: Codec::{codec:?}, bytes: include_bytes!({:?}), len: {} }}",
        path.display(),
        bytes.len()
    ))
}

/// The names of a component's top-level imports, as the runtime's `PluginInfo::read`
/// reads them, nested modules and components skipped (a test in the binary holds the
/// two to each other).
fn component_imports(component: &[u8]) -> Result<Vec<String>, String> {
    use wasmparser::{Chunk, Parser, Payload};
    let mut imports = Vec::new();
    let mut parser = Parser::new(0);
    let mut rest = component;
    loop {
        let (payload, consumed) = match parser.parse(rest, true).map_err(|e| e.to_string())? {
            Chunk::Parsed { consumed, payload } => (payload, consumed),
            Chunk::NeedMoreData(_) => return Err("truncated".into()),
        };
        rest = &rest[consumed..];
        match payload {
            Payload::ModuleSection {
                unchecked_range, ..
            }
            | Payload::ComponentSection {
                unchecked_range, ..
            } => {
                rest = component.get(unchecked_range.end..).ok_or("truncated")?;
            }
            Payload::ComponentImportSection(reader) => {
                for import in reader {
                    imports.push(import.map_err(|e| e.to_string())?.name.name.to_string());
                }
            }
            Payload::End(_) => return Ok(imports),
            _ => {}
        }
    }
}

/// The engine that compiles the built-ins: the runtime's code settings, for the target
/// being built and its baseline CPU.
fn baseline_engine() -> Result<wasmtime::Engine, String> {
    let triple = env::var("TARGET").map_err(|e| format!("TARGET: {e}"))?;
    let arch = env::var("CARGO_CFG_TARGET_ARCH").map_err(|e| format!("target arch: {e}"))?;
    let config = engine_config::baseline_config(&triple, &arch)
        .map_err(|e| format!("configuring wasmtime for {triple}: {e:#}"))?;
    wasmtime::Engine::new(&config).map_err(|e| format!("starting wasmtime: {e:#}"))
}

/// Compiles the packaged component at `packaged` into `NAME.cwasm` beside it, rewriting
/// the file only when its bytes change (so the binary relinks only then).
fn precompile(engine: &wasmtime::Engine, packaged: &Path, wasm: &[u8]) -> Result<PathBuf, String> {
    let artifact = packaged.with_extension("cwasm");
    let bytes = engine
        .precompile_component(wasm)
        .map_err(|e| format!("precompiling {}: {e:#}", packaged.display()))?;
    if fs::read(&artifact).ok().as_deref() != Some(&bytes[..]) {
        fs::write(&artifact, bytes).map_err(|e| format!("writing {}: {e}", artifact.display()))?;
    }
    Ok(artifact)
}

/// Installs the wasm target with rustup when it is missing.
fn ensure_wasm_target() -> Result<(), String> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("running {rustc}: {e}"))?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    if Path::new(&sysroot)
        .join("lib/rustlib")
        .join(TARGET)
        .exists()
    {
        return Ok(());
    }
    println!("cargo:warning=installing the {TARGET} target with rustup");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        _ => Err(format!(
            "the {TARGET} target is missing and could not be installed; run `rustup target add {TARGET}`"
        )),
    }
}

/// Runs a nested cargo for the plugins workspace, with the outer build's settings removed.
fn build_plugins(plugins: &Path, target_dir: &Path) -> Result<(), String> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(plugins)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(target_dir);
    for (key, _) in env::vars() {
        let outer_only = key.starts_with("CARGO_PROFILE_")
            || key.starts_with("CARGO_BUILD_")
            || key.starts_with("CARGO_ENCODED_")
            || key.starts_with("CARGO_FEATURE_")
            || key.starts_with("CARGO_CFG_")
            || matches!(
                key.as_str(),
                "CARGO_TARGET_DIR"
                    | "RUSTFLAGS"
                    | "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "PROFILE"
                    | "OPT_LEVEL"
                    | "DEBUG"
                    | "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_PKG_NAME"
            );
        if outer_only {
            cmd.env_remove(&key);
        }
    }
    let output = cmd
        .output()
        .map_err(|e| format!("running cargo for the plugins: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "building the plugins failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

/// Embeds the crate's `manifest.json` into its built component; returns the packaged path.
fn package(
    plugins: &Path,
    artifacts: &Path,
    components: &Path,
    plugin: &PluginCrate,
) -> Result<PathBuf, String> {
    let manifest_path = plugins.join(plugin.dir).join("manifest.json");
    let manifest = fs::read(&manifest_path)
        .map_err(|e| format!("reading {}: {e}", manifest_path.display()))?;
    let built = artifacts.join(plugin.artifact);
    let component = fs::read(&built).map_err(|e| format!("reading {}: {e}", built.display()))?;
    let packaged = components.join(format!("{}.wasm", plugin.name));
    let bytes = package::embed_manifest(&component, &manifest);
    if fs::read(&packaged).ok().as_deref() != Some(&bytes[..]) {
        fs::write(&packaged, bytes).map_err(|e| format!("writing {}: {e}", packaged.display()))?;
    }
    Ok(packaged)
}
