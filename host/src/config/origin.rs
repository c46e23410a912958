//! Where each setting came from — a command-line flag, a `CONCH_*` variable, a
//! conch.toml file, or conch's defaults and presets — for `conch config show`.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::FlagOverrides;
use super::env::{API_KEY, BASE_URL, EnvOverrides, MODEL, PROVIDER};
use super::file::Layer;
use crate::permission::PermissionKey;

/// The source of one setting's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag(&'static str),
    Env(&'static str),
    File(PathBuf),
    /// Not set anywhere: conch's default, or what the provider's preset says.
    Default,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "the {flag} flag"),
            Origin::Env(var) => write!(f, "${var}"),
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Default => f.write_str("default or preset"),
        }
    }
}

/// The settings whose origin is shown, each found as the first of: a flag, a variable,
/// the closest file that sets it.
pub fn origins(
    files: &[(PathBuf, Layer)],
    provider: &str,
    flags: &FlagOverrides,
    env: &EnvOverrides,
) -> Vec<(String, Origin)> {
    // The closest file that sets a value (files are weakest first).
    let file = |set: &dyn Fn(&Layer) -> bool| {
        files
            .iter()
            .rev()
            .find(|(_, layer)| set(layer))
            .map_or(Origin::Default, |(path, _)| Origin::File(path.clone()))
    };
    let first = |flag: Option<(&'static str, bool)>,
                 var: Option<(&'static str, bool)>,
                 set: &dyn Fn(&Layer) -> bool| {
        match (flag, var) {
            (Some((flag, true)), _) => Origin::Flag(flag),
            (_, Some((var, true))) => Origin::Env(var),
            _ => file(set),
        }
    };
    let table = |layer: &Layer| layer.providers.get(provider).cloned();
    let mut out = vec![
        (
            "provider".into(),
            first(
                Some(("--provider", flags.provider.is_some())),
                Some((PROVIDER, env.provider.is_some())),
                &|l| l.provider.is_some(),
            ),
        ),
        (
            "model".into(),
            first(
                Some(("--model", flags.model.is_some())),
                Some((MODEL, env.model.is_some())),
                &|l| l.model.is_some() || table(l).is_some_and(|p| p.model.is_some()),
            ),
        ),
        (
            format!("providers.{provider}.base_url"),
            first(None, Some((BASE_URL, env.base_url.is_some())), &|l| {
                table(l).is_some_and(|p| p.base_url.is_some())
            }),
        ),
        (
            format!("providers.{provider}.api_key"),
            first(None, Some((API_KEY, env.api_key.is_some())), &|l| {
                table(l).is_some_and(|p| p.api_key.is_some())
            }),
        ),
        ("max_steps".into(), file(&|l| l.max_steps.is_some())),
        ("retries".into(), file(&|l| l.retries.is_some())),
        (
            "idle_timeout_secs".into(),
            file(&|l| l.idle_timeout_secs.is_some()),
        ),
        ("compact_at".into(), file(&|l| l.compact_at.is_some())),
        ("sandbox.mode".into(), file(&|l| l.sandbox_mode.is_some())),
        (
            "sandbox.network".into(),
            file(&|l| l.sandbox_network.is_some()),
        ),
    ];
    for key in [
        PermissionKey::READ,
        PermissionKey::EDIT,
        PermissionKey::BASH,
        PermissionKey::WEBFETCH,
    ] {
        out.push((
            format!("permission.{key}"),
            file(&|l| l.permission.defaults.contains_key(&key)),
        ));
    }
    out
}

/// The origins as comment lines.
pub fn render(origins: &[(String, Origin)], out: &mut String) {
    out.push_str("\n# where each value came from\n");
    let width = origins.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
    for (key, origin) in origins {
        let _ = writeln!(out, "# {key:width$}  {origin}");
    }
}
