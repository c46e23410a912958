//! `conch plugin new NAME`: a Rust plugin crate that builds as it is — one working tool
//! written with the SDK (it counts the lines and words of a workspace file) and its test.

use std::path::{Path, PathBuf};

use super::CliError;

/// Where the SDK of the conch this binary was built from lives, if it is still there.
fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk")
}

/// Writes the crate `name` into `parent/name` and returns its directory.
pub fn scaffold(name: &str, parent: &Path, sdk: Option<&Path>) -> Result<PathBuf, CliError> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid {
        return Err(CliError::Usage(format!(
            "`{name}` cannot be a plugin name: use lowercase letters, digits, '-' and '_', starting with a letter"
        )));
    }
    let sdk = sdk.map_or_else(default_sdk, Path::to_path_buf);
    let sdk = std::fs::canonicalize(&sdk)
        .ok()
        .filter(|p| p.join("Cargo.toml").is_file())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "the conch-plugin SDK is not at {}; pass --sdk with the path of plugins/sdk in a conch checkout",
                sdk.display()
            ))
        })?;
    let dir = parent.join(name);
    if dir.exists() {
        return Err(CliError::Usage(format!(
            "{} already exists; choose another name or --dir",
            dir.display()
        )));
    }
    let files = [
        ("Cargo.toml", cargo_toml(name, &sdk)),
        ("src/lib.rs", lib_rs(name)),
        (".gitignore", "/target\n".to_string()),
    ];
    for (file, text) in files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| CliError::Usage(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(dir)
}

fn cargo_toml(name: &str, sdk: &Path) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
description = "Counts the lines and words of a file"

# What the plugin needs from conch; it gets nothing else. Others: "fs:edit", "process",
# "http", "interact", "state".
[package.metadata.conch]
capabilities = ["fs:read"]

[lib]
crate-type = ["cdylib"]

[dependencies]
conch-plugin = {{ path = {sdk:?} }}
serde = {{ version = "1", features = ["derive"] }}
schemars = "1"

[profile.release]
opt-level = "s"
lto = true
panic = "abort"
strip = "debuginfo"

# A crate of its own, even inside another workspace.
[workspace]
"#,
        sdk = sdk.display().to_string()
    )
}

fn lib_rs(name: &str) -> String {
    format!(
        r#"//! The `{name}` plugin for conch. Build and install it with
//! `conch plugin install .` (or `conch plugin build` to only build it).

use conch_plugin::{{CallContext, Tool, ToolError, ToolOutput, Workspace}};
use schemars::JsonSchema;
use serde::Deserialize;

// The input type: its JSON Schema (with these doc comments as descriptions) is what the
// model sees, and serde parses the model's call into it.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {{
    /// The file to count, relative to the working directory.
    pub path: String,
}}

/// Counts the lines and words of a file in the workspace.
pub struct Count;

impl Tool for Count {{
    const NAME: &'static str = "{name}";
    const DESCRIPTION: &'static str = "Count the lines and words of a text file";
    const KEY_ARG: Option<&'static str> = Some("path");
    type Input = Input;

    fn run(input: Input, ctx: &CallContext) -> Result<ToolOutput, ToolError> {{
        // Paths outside the workspace get a clear error before any I/O.
        let path = Workspace::new(ctx).resolve(&input.path)?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ToolError::NotFound(format!("cannot read {{}}: {{e}}", input.path)))?;
        Ok(ToolOutput::text(count(&text)))
    }}
}}

/// `N lines, M words`.
pub fn count(text: &str) -> String {{
    format!("{{}} lines, {{}} words", text.lines().count(), text.split_whitespace().count())
}}

conch_plugin::plugin!(Count);

#[cfg(test)]
mod tests {{
    use super::*;

    #[test]
    fn counts_lines_and_words() {{
        assert_eq!(count("one two\nthree\n"), "2 lines, 3 words");
        assert_eq!(count(""), "0 lines, 0 words");
    }}
}}
"#
    )
}
