//! Keeping a plugin's hand-kept `manifest.json` honest: its `tools` must be what the code
//! derives (`ConchPlugin::specs()` from [`plugin!`](crate::plugin)). A crate whose build
//! embeds the file as it is (conch's built-ins) calls [`check_manifest`] from a test, so a
//! changed input type or description that the file does not follow fails the tests.

use std::path::Path;

use serde_json::Value;

/// The environment variable that makes [`check_manifest`] rewrite the file instead of
/// failing.
pub const BLESS_VAR: &str = "CONCH_BLESS";

/// Checks that `crate_dir/manifest.json`'s `tools` equal `specs`; with `CONCH_BLESS=1`
/// in the environment, rewrites them instead (pretty JSON, the other fields kept as they
/// are). Meant for a test:
///
/// ```ignore
/// #[test]
/// fn manifest_tools_are_derived_from_the_code() {
///     conch_plugin::manifest::check_manifest(env!("CARGO_MANIFEST_DIR"), ConchPlugin::specs());
/// }
/// ```
///
/// # Panics
///
/// When the file cannot be read, parsed or written, or (without `CONCH_BLESS=1`) when its
/// tools differ from `specs`: the message names the tools that differ and the command
/// that rewrites the file.
pub fn check_manifest(crate_dir: &str, specs: Vec<Value>) {
    let path = Path::new(crate_dir).join("manifest.json");
    let shown = path.display();
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{shown}: cannot read it: {e}"));
    let mut manifest: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{shown}: not valid JSON: {e}"));
    let Some(fields) = manifest.as_object_mut() else {
        panic!("{shown}: not a JSON object");
    };
    let derived = Value::Array(specs);
    if fields.get("tools") == Some(&derived) {
        return;
    }
    if std::env::var(BLESS_VAR).is_ok_and(|v| v == "1") {
        fields.insert("tools".into(), derived);
        let mut pretty = serde_json::to_string_pretty(&manifest)
            .unwrap_or_else(|e| panic!("{shown}: cannot serialise it: {e}"));
        pretty.push('\n');
        std::fs::write(&path, pretty).unwrap_or_else(|e| panic!("{shown}: cannot write it: {e}"));
        return;
    }
    let differ = differences(fields.get("tools"), &derived);
    panic!(
        "{shown}: its tools differ from the ones derived from the code ({differ}).\n\
         If the code is right, rewrite the file's tools from it with:\n    \
         {BLESS_VAR}=1 cargo test --manifest-path {crate_dir}/Cargo.toml\n\
         and review the diff before committing."
    );
}

/// Which tools differ, by name: `read changed, grep missing from the file`.
fn differences(in_file: Option<&Value>, derived: &Value) -> String {
    let by_name = |tools: Option<&Value>| -> Vec<(String, Value)> {
        tools
            .and_then(Value::as_array)
            .map(|tools| {
                tools
                    .iter()
                    .map(|t| {
                        let name = t.get("name").and_then(Value::as_str).unwrap_or("?");
                        (name.to_string(), t.clone())
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let file = by_name(in_file);
    let code = by_name(Some(derived));
    let mut notes = Vec::new();
    for (name, spec) in &code {
        match file.iter().find(|(n, _)| n == name) {
            None => notes.push(format!("`{name}` missing from the file")),
            Some((_, old)) if old != spec => notes.push(format!("`{name}` changed")),
            Some(_) => {}
        }
    }
    for (name, _) in &file {
        if !code.iter().any(|(n, _)| n == name) {
            notes.push(format!("`{name}` is not in the code"));
        }
    }
    if notes.is_empty() {
        notes.push("the tools are listed in another order".into());
    }
    notes.join(", ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A crate directory holding `manifest.json` with these tools; removed on drop.
    struct Crate(std::path::PathBuf);

    impl Crate {
        fn with_tools(name: &str, tools: Value) -> Crate {
            let dir = std::env::temp_dir()
                .join(format!("conch-sdk-manifest-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("scratch dir");
            let manifest = json!({"name": "p", "version": "0.1.0", "tools": tools});
            std::fs::write(dir.join("manifest.json"), manifest.to_string()).expect("write");
            Crate(dir)
        }

        fn dir(&self) -> String {
            self.0.display().to_string()
        }
    }

    impl Drop for Crate {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_manifest_that_follows_the_code_passes() {
        let tools = json!([{"name": "a", "description": "d", "permission": "read"}]);
        let dir = Crate::with_tools("same", tools.clone());
        check_manifest(&dir.dir(), tools.as_array().cloned().unwrap_or_default());
    }

    #[test]
    #[should_panic(expected = "`a` changed, `b` is not in the code")]
    fn drift_names_the_tools_that_differ() {
        let dir = Crate::with_tools(
            "drift",
            json!([{"name": "a", "description": "old"}, {"name": "b"}]),
        );
        check_manifest(&dir.dir(), vec![json!({"name": "a", "description": "new"})]);
    }

    #[test]
    #[should_panic(expected = "CONCH_BLESS=1 cargo test --manifest-path")]
    fn drift_says_how_to_rewrite_the_file() {
        let dir = Crate::with_tools("bless", json!([]));
        check_manifest(&dir.dir(), vec![json!({"name": "a"})]);
    }
}
