//! Making a plugin file: `conch plugin build` (a Rust crate) and `conch plugin package`
//! (a component from any toolchain plus a manifest).
//!
//! A crate with a `manifest.json` gets that manifest embedded as it is. A crate written
//! with the SDK's `plugin!` macro has none: its tools describe themselves (schemas
//! derived from their input types) when called as `conch-describe`, which `build` does
//! once, in the sandbox, under a provisional manifest made from Cargo.toml.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use super::CliError;
use crate::plugin::manifest::strip_manifest;
use crate::plugin::package::embed_manifest;
use crate::plugin::{
    CallLimits, Capability, CompileCache, Manifest, PluginInfo, PluginRegistry, ToolSpec,
};

fn fail(message: String) -> CliError {
    CliError::Usage(message)
}

/// Writes `component` with `manifest_file` embedded to `out` (default: NAME.wasm beside
/// the component), after checking that the result is a usable plugin.
pub fn package(
    component: &Path,
    manifest_file: &Path,
    out: Option<PathBuf>,
) -> Result<PathBuf, CliError> {
    let manifest_json = std::fs::read(manifest_file)
        .map_err(|e| fail(format!("cannot read {}: {e}", manifest_file.display())))?;
    let manifest: Manifest = serde_json::from_slice(&manifest_json)
        .map_err(|e| fail(format!("{}: {e}", manifest_file.display())))?;
    let bytes = std::fs::read(component)
        .map_err(|e| fail(format!("cannot read {}: {e}", component.display())))?;
    let out = out.unwrap_or_else(|| component.with_file_name(format!("{}.wasm", manifest.name)));
    write_plugin(&bytes, &manifest, &out)?;
    Ok(out)
}

/// Embeds `manifest` into `component`, checks the result and writes it to `out`.
fn write_plugin(component: &[u8], manifest: &Manifest, out: &Path) -> Result<(), CliError> {
    let json = serde_json::to_vec_pretty(manifest)
        .map_err(|e| fail(format!("cannot encode the manifest: {e}")))?;
    let component = strip_manifest(component).map_err(|e| fail(format!("not a component: {e}")))?;
    let packaged = embed_manifest(&component, &json);
    PluginInfo::read(&packaged).map_err(|e| fail(format!("not a usable plugin: {e}")))?;
    std::fs::write(out, packaged).map_err(|e| fail(format!("cannot write {}: {e}", out.display())))
}

/// The parts of a plugin crate's Cargo.toml that go into its manifest.
#[derive(Deserialize)]
struct CargoToml {
    package: Package,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: toml::Value,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default)]
    conch: Option<ConchMetadata>,
}

/// `[package.metadata.conch]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConchMetadata {
    /// The plugin's name, if not the crate's.
    name: Option<String>,
    #[serde(default)]
    capabilities: Vec<Capability>,
    /// With `process`: the only commands it runs (patterns).
    commands: Option<Vec<String>>,
    /// With `http`: the only hosts it fetches from.
    hosts: Option<Vec<String>>,
}

/// Builds the crate at `path` for wasm32-wasip2 (in `CARGO_TARGET_DIR` if set, else its
/// `target/`) and writes `NAME.wasm` there with its
/// manifest embedded: `manifest.json` if the crate has one, else the one its tools
/// describe (see the module docs).
pub fn build(path: &Path) -> Result<PathBuf, CliError> {
    let cargo_file = path.join("Cargo.toml");
    let cargo_toml = std::fs::read_to_string(&cargo_file).map_err(|e| {
        fail(format!(
            "cannot read {} ({e}); is it a plugin crate?",
            cargo_file.display()
        ))
    })?;
    let cargo: CargoToml =
        toml::from_str(&cargo_toml).map_err(|e| fail(format!("{}: {e}", cargo_file.display())))?;
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| path.join("target"), PathBuf::from);
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(&cargo_file)
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .map_err(|e| fail(format!("cannot run cargo: {e}")))?;
    if !status.success() {
        return Err(fail(format!(
            "cargo build failed ({status}); if the target is missing: rustup target add wasm32-wasip2"
        )));
    }
    let crate_name = &cargo.package.name;
    let artifact = target_dir
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", crate_name.replace('-', "_")));
    let out = target_dir.join(format!("{crate_name}.wasm"));
    let manifest_file = path.join("manifest.json");
    if manifest_file.exists() {
        return package(&artifact, &manifest_file, Some(out));
    }
    let component = std::fs::read(&artifact)
        .map_err(|e| fail(format!("cannot read {}: {e}", artifact.display())))?;
    let mut manifest = provisional_manifest(cargo.package, &cargo_file)?;
    manifest.tools = describe(&component, &manifest, &target_dir)?;
    write_plugin(&component, &manifest, &out)?;
    Ok(out)
}

/// The manifest from Cargo.toml, with one tool: the SDK's `conch-describe`.
fn provisional_manifest(package: Package, cargo_file: &Path) -> Result<Manifest, CliError> {
    let conch = package
        .metadata
        .unwrap_or_default()
        .conch
        .unwrap_or_default();
    let toml::Value::String(version) = package.version else {
        return Err(fail(format!(
            "{}: give the package a version of its own (it goes into the manifest)",
            cargo_file.display()
        )));
    };
    Ok(Manifest {
        name: conch.name.unwrap_or(package.name),
        version,
        description: package.description.unwrap_or_default(),
        capabilities: conch.capabilities,
        commands: conch.commands,
        hosts: conch.hosts,
        tools: vec![ToolSpec {
            name: DESCRIBE.into(),
            description: "Lists the plugin's tools (conch plugin build only)".into(),
            permission: crate::permission::PermissionKey::READ,
            key_arg: None,
            key_arg_fallback: None,
            input_schema: serde_json::json!({"type": "object"}),
            stale_check: true,
            also_decided_as: None,
            fixed_key: None,
        }],
    })
}

/// The SDK's tool that describes the others (never in a finished manifest).
const DESCRIBE: &str = "conch-describe";

/// Runs the component's `conch-describe` under `provisional` and returns its tools.
fn describe(
    component: &[u8],
    provisional: &Manifest,
    scratch: &Path,
) -> Result<Vec<ToolSpec>, CliError> {
    let file = scratch.join(format!(".{}.describe.wasm", provisional.name));
    write_plugin(component, provisional, &file).map_err(|e| {
        fail(format!(
            "{e}; declare the capabilities the plugin uses in Cargo.toml: [package.metadata.conch] capabilities = [\"fs:read\", …]"
        ))
    })?;
    let mut registry = PluginRegistry::empty(CompileCache::new(None));
    let added = registry.add_file(&file, &[]);
    let _ = std::fs::remove_file(&file);
    added.map_err(|e| fail(e.to_string()))?;
    let ctx = crate::workspace::context_for(scratch).map_err(|e| fail(e.to_string()))?;
    let output = registry
        .call(DESCRIBE, "{}", &ctx, &CallLimits::default())
        .map_err(|e| {
            fail(format!(
                "the plugin did not describe its tools ({e}); without a manifest.json it must export them with conch_plugin::plugin!"
            ))
        })?;
    let tools: Vec<ToolSpec> = serde_json::from_str(&output.text)
        .map_err(|e| fail(format!("the plugin described its tools wrongly: {e}")))?;
    if tools.iter().any(|t| t.name == DESCRIBE) {
        return Err(fail(format!("a tool may not be called {DESCRIBE}")));
    }
    Ok(tools)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_of(cargo_toml: &str) -> Result<Manifest, CliError> {
        let cargo: CargoToml = toml::from_str(cargo_toml).expect("Cargo.toml");
        provisional_manifest(cargo.package, Path::new("Cargo.toml"))
    }

    #[test]
    fn declared_commands_and_hosts_come_from_the_package_metadata() {
        let manifest = manifest_of(
            r#"
            [package]
            name = "git-tools"
            version = "0.2.0"
            description = "Git, read-only"
            [package.metadata.conch]
            capabilities = ["process", "http"]
            commands = ["git status", "git log *"]
            hosts = ["api.example.com"]
            "#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(manifest.name, "git-tools");
        assert_eq!(
            manifest.commands,
            Some(vec!["git status".to_string(), "git log *".to_string()])
        );
        assert_eq!(manifest.hosts, Some(vec!["api.example.com".to_string()]));
        assert!(manifest.validate().is_ok());
    }

    #[test]
    fn an_unknown_metadata_key_is_an_error() {
        let cargo = toml::from_str::<CargoToml>(
            r#"
            [package]
            name = "p"
            version = "0.1.0"
            [package.metadata.conch]
            command = ["git status"]
            "#,
        );
        assert!(cargo.is_err());
    }
}
