//! The wasmtime settings that shape compiled code, in the one place that defines them:
//! the runtime's engine (plugin/engine.rs) and build.rs, which precompiles the built-in
//! plugins into the binary, both include this file, so an embedded artifact is made by
//! the engine configuration that loads it.

use wasmtime::Config;

/// The settings every engine of conch compiles with: component model, and epoch
/// interruption for call deadlines (it adds checks to the generated code, so an artifact
/// compiled without it could not be stopped). No address map and no native unwind
/// information: ~12% of every artifact (BENCHMARKS.md), used only to print wasm offsets
/// in backtraces, which conch never shows (a crash is told by the plugin's own panic
/// message or the trap), and by native unwinders and profilers, which conch does not run
/// through wasm frames (wasmtime walks them by frame pointer).
pub fn code_config() -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .generate_address_map(false)
        .native_unwind_info(false);
    config
}

/// The CPU features an embedded artifact may use on `arch`: x86-64-v2 on x86-64, the
/// architecture's generic baseline elsewhere. Fixed rather than the build machine's, so
/// a binary built on a new machine still loads its artifacts on older ones.
pub fn baseline_features(arch: &str) -> &'static [&'static str] {
    match arch {
        "x86_64" => &[
            "has_sse3",
            "has_ssse3",
            "has_sse41",
            "has_sse42",
            "has_popcnt",
            "has_cmpxchg16b",
        ],
        _ => &[],
    }
}

/// [`code_config`] generating code for `triple` with only its [`baseline_features`],
/// instead of what the machine running this supports.
#[allow(unsafe_code)]
pub fn baseline_config(triple: &str, arch: &str) -> wasmtime::Result<Config> {
    let mut config = code_config();
    // An explicit target turns off wasmtime's detection of the host CPU's features.
    config.target(triple)?;
    for flag in baseline_features(arch) {
        // SAFETY: code using these features only runs where wasmtime found them on the
        // CPU: it checks an artifact's features against the host before loading it.
        unsafe {
            config.cranelift_flag_enable(flag);
        }
    }
    Ok(config)
}
