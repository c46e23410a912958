//! How far a plugin declares it reaches beyond the workspace: the commands it runs
//! (`commands`, patterns, with `process`) and the hosts it fetches from (`hosts`, with
//! `http`). The grant of a call is what the plugin declared, within the user's rules, for
//! the one command or URL the gate approved: a key outside the declaration is refused
//! before anyone is asked, and the host checks again when the plugin asks it to run or
//! fetch (each redirect hop included).

use super::manifest::{Capability, Manifest, ToolSpec};
use crate::permission::declared::{check_command, check_host, is_host_pattern, one_command};
use crate::permission::shell;

/// Checks a manifest's `commands` and `hosts`: each needs its capability, and each
/// pattern must be one the checks below can honour. The error is for the author.
pub fn validate(manifest: &Manifest) -> Result<(), String> {
    let declares = |c| manifest.capabilities.contains(&c);
    if let Some(commands) = &manifest.commands {
        if !declares(Capability::Process) {
            return Err("`commands` needs the `process` capability".into());
        }
        if commands.is_empty() {
            return Err(
                "`commands` is empty; leave it out to let the user decide on every command".into(),
            );
        }
        for pattern in commands {
            if pattern.trim().is_empty() {
                return Err("`commands` has an empty pattern".into());
            }
            if let Err(why) = one_command(&shell::parse(pattern)) {
                return Err(format!(
                    "command pattern `{pattern}` is not one simple command: {why}; a pattern is \
                     one command (`*` any text, `?` one character)"
                ));
            }
        }
    }
    if let Some(hosts) = &manifest.hosts {
        if !declares(Capability::Http) {
            return Err("`hosts` needs the `http` capability".into());
        }
        if hosts.is_empty() {
            return Err(
                "`hosts` is empty; leave it out to let the user decide on every URL".into(),
            );
        }
        for pattern in hosts {
            if !is_host_pattern(pattern) {
                return Err(format!(
                    "host `{pattern}` is not a host name (like `api.example.com`, or \
                     `*.example.com` for its subdomains) or an IP address"
                ));
            }
        }
    }
    Ok(())
}

/// Refuses, before the gate asks, a call whose key argument the plugin's declaration
/// rules out: a `bash` tool's command, a `webfetch` tool's URL. Other calls pass here;
/// the host still checks whatever the plugin asks it to run or fetch.
pub fn precheck(manifest: &Manifest, spec: &ToolSpec, key: Option<&str>) -> Result<(), String> {
    let Some(key) = key else { return Ok(()) };
    match (
        spec.permission.as_str(),
        &manifest.commands,
        &manifest.hosts,
    ) {
        ("bash", Some(commands), _) => check_command(&manifest.name, commands, key),
        ("webfetch", _, Some(hosts)) => {
            let host = reqwest::Url::parse(key)
                .ok()
                .and_then(|url| url.host_str().map(str::to_string))
                .ok_or_else(|| format!("`{key}` is not a URL"))?;
            check_host(&manifest.name, hosts, &host)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(json: serde_json::Value) -> Manifest {
        serde_json::from_value(json).expect("manifest")
    }

    fn narrow() -> Manifest {
        manifest(json!({
            "name": "git-tools", "version": "1.0.0",
            "capabilities": ["process", "http"],
            "commands": ["git status", "git log *"],
            "hosts": ["*.example.org", "api.example.com"],
            "tools": [{"name": "x", "description": "", "permission": "read",
                       "input_schema": {"type": "object"}}]
        }))
    }

    #[test]
    fn precheck_reads_the_key_of_bash_and_webfetch_tools_only() {
        let m = narrow();
        let tool = |permission: &str| ToolSpec {
            name: "t".into(),
            description: String::new(),
            permission: crate::permission::PermissionKey::parse(permission).expect("a key"),
            key_arg: Some("k".into()),
            key_arg_fallback: None,
            input_schema: json!({"type": "object"}),
            stale_check: true,
            also_decided_as: None,
            fixed_key: None,
        };
        assert!(precheck(&m, &tool("bash"), Some("git status")).is_ok());
        assert!(precheck(&m, &tool("bash"), Some("make")).is_err());
        assert!(precheck(&m, &tool("webfetch"), Some("https://api.example.com/x")).is_ok());
        assert!(precheck(&m, &tool("webfetch"), Some("https://evil.test/")).is_err());
        assert!(precheck(&m, &tool("webfetch"), Some("not a url")).is_err());
        // A path is no command: a read tool of the same plugin is not held to `commands`.
        assert!(precheck(&m, &tool("read"), Some("src/main.rs")).is_ok());
    }

    #[test]
    fn declarations_need_their_capability_and_sound_patterns() {
        let with = |caps: serde_json::Value, extra: serde_json::Value| {
            let mut json = json!({
                "name": "p", "version": "1.0.0", "capabilities": caps,
                "tools": [{"name": "x", "description": "", "permission": "read",
                           "input_schema": {"type": "object"}}]
            });
            for (k, v) in extra.as_object().into_iter().flatten() {
                json[k] = v.clone();
            }
            validate(&manifest(json))
        };
        assert!(with(json!(["process"]), json!({"commands": ["make *"]})).is_ok());
        assert!(
            with(json!(["fs:read"]), json!({"commands": ["make"]}))
                .unwrap_err()
                .contains("needs the `process` capability")
        );
        assert!(
            with(json!(["process"]), json!({"commands": []}))
                .unwrap_err()
                .contains("leave it out")
        );
        assert!(
            with(json!(["process"]), json!({"commands": ["make; rm x"]}))
                .unwrap_err()
                .contains("not one simple command: it holds 2 commands")
        );
        assert!(
            with(
                json!(["http"]),
                json!({"hosts": ["*.example.org", "10.0.0.1", "::1"]})
            )
            .is_ok()
        );
        assert!(
            with(json!(["process"]), json!({"hosts": ["example.org"]}))
                .unwrap_err()
                .contains("needs the `http` capability")
        );
        for bad in [
            "https://example.org",
            "example.org/path",
            "*",
            "a..b",
            "*.*.x",
        ] {
            assert!(
                with(json!(["http"]), json!({"hosts": [bad]})).is_err(),
                "{bad} passed"
            );
        }
    }
}
