//! The tool lists of MCP servers kept between runs, so that a run's first request carries
//! the tools of a server it has seen before without waiting for it to start.
//!
//! A list is keyed by a digest of everything that decides what the server is: its program
//! and arguments, working directory, the variables set for it and passed to it (their
//! values hashed, never stored), its network and sandbox settings; for an HTTP server, its
//! URL and headers. A change to any of them
//! is a new key, so a stale list is never offered for a different server; the same server
//! changing its tools is caught when it lists them (and by `tools/list_changed`), which
//! rewrites the file. The files live in conch's cache dir, beside (never inside) the
//! servers' private directories: a server cannot write its own entry.

use std::path::PathBuf;

use rmcp::model::Tool;
use sha2::{Digest, Sha256};

use crate::config::McpHttpConfig;
use crate::sandbox::child::ChildSpec;

/// Bumped when the file's shape or what the digest covers changes.
const FORMAT: &str = "conch-mcp-tools-1";

/// The key of the list of the server started as `spec`, or reached as `http` (its URL and
/// what is sent to it).
pub fn digest(spec: &ChildSpec, http: Option<&McpHttpConfig>) -> String {
    let passed: Vec<(&str, Option<String>)> = spec
        .pass_env
        .iter()
        .map(|var| (var.as_str(), std::env::var(var).ok()))
        .collect();
    let key = serde_json::json!({
        "format": FORMAT,
        "program": spec.program,
        "cwd": spec.cwd,
        "roots": spec.roots,
        "env": spec.env,
        "pass_env": passed,
        "network": spec.network,
        "mode": format!("{:?}", spec.mode),
        "write_roots": spec.write_roots,
        // An HTTP server is its URL and what is sent to it (values only hashed here).
        "http": http.map(|http| serde_json::json!({
            "url": http.url,
            "headers": http.headers.iter().map(|(name, value)| (name, value.expose())).collect::<Vec<_>>(),
            "bearer_token_env": http.bearer_token_env,
        })),
    });
    Sha256::digest(key.to_string().as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The list kept for `digest`, if there is a readable one.
pub fn load(digest: &str) -> Option<Vec<Tool>> {
    let text = std::fs::read_to_string(path(digest)?).ok()?;
    match serde_json::from_str(&text) {
        Ok(tools) => Some(tools),
        Err(e) => {
            tracing::debug!(digest, "ignoring an unreadable MCP tools cache file: {e}");
            None
        }
    }
}

/// Keeps `tools` for `digest`; a failure only costs the next run a wait.
pub fn store(digest: &str, tools: &[Tool]) {
    let Some(file) = path(digest) else {
        return;
    };
    let written = (|| {
        let dir = file.parent().ok_or("no directory")?;
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let text = serde_json::to_string(tools).map_err(|e| e.to_string())?;
        // Written aside and renamed: a run reading it at the same time sees the old list
        // or the new one, never half of one.
        let temp = dir.join(format!(".{digest}.{}", std::process::id()));
        std::fs::write(&temp, text).map_err(|e| e.to_string())?;
        std::fs::rename(&temp, &file).map_err(|e| e.to_string())
    })();
    if let Err(e) = written {
        tracing::debug!(file = %file.display(), "cannot keep the MCP tool list: {e}");
    }
}

/// Where the list for `digest` is kept.
pub fn path(digest: &str) -> Option<PathBuf> {
    Some(
        crate::dirs::cache_dir()?
            .join("mcp-tools")
            .join(format!("{digest}.json")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::SandboxMode;

    fn spec() -> ChildSpec {
        ChildSpec {
            program: vec!["server".into(), "--stdio".into()],
            cwd: std::env::temp_dir().join("p"),
            roots: vec![std::env::temp_dir().join("p")],
            private_dir: "/cache/mcp/s".into(),
            network: false,
            write_roots: false,
            mode: SandboxMode::WorkspaceWrite,
            deny_read: Vec::new(),
            pass_env: Vec::new(),
            env: vec![("TOKEN".into(), "one".into())],
        }
    }

    #[test]
    fn any_change_to_what_the_server_is_changes_the_key() {
        let base = digest(&spec(), None);
        assert_eq!(base, digest(&spec(), None));
        let mut other = spec();
        other.env[0].1 = "two".into();
        assert_ne!(base, digest(&other, None));
        let mut other = spec();
        other.program.push("--more".into());
        assert_ne!(base, digest(&other, None));
        let mut other = spec();
        other.cwd = std::env::temp_dir().join("q");
        assert_ne!(base, digest(&other, None));
        let mut other = spec();
        other.write_roots = true;
        assert_ne!(base, digest(&other, None));
        assert!(!base.contains("one"));
    }
}
