//! Trusting a third-party plugin that can run commands or reach the network, once per
//! project. Built-ins are trusted, and so is a file named with `--plugin` for that run
//! (you typed it); an installed plugin declaring `process` or `http` is asked about on
//! its first call in a project (each command or fetch is still asked for by the gate).
//! A yes is kept in the trust store (`crate::trust`), by project root and the plugin's
//! digest, so a changed plugin is asked about again.

use std::path::Path;

use super::{Capability, Origin, Plugin, ToolSpec};
use crate::permission::declared::listed;
use crate::permission::{Approval, Approver};

/// What `plugin` can do that needs trusting first, in words (`run commands and fetch
/// URLs`): a third-party plugin's reach beyond the workspace, or its taking a built-in
/// tool's place.
fn needs_trust(plugin: &Plugin) -> Option<String> {
    if !matches!(plugin.origin, Origin::Installed(_)) {
        return None;
    }
    let m = &plugin.info.manifest;
    let mut reach = Vec::new();
    if m.capabilities.contains(&Capability::Process) {
        reach.push(match &m.commands {
            Some(commands) => format!("run commands matching {}", listed(commands)),
            None => "run commands".to_string(),
        });
    }
    if m.capabilities.contains(&Capability::Http) {
        reach.push(match &m.hosts {
            Some(hosts) => format!("fetch URLs from {}", listed(hosts)),
            None => "fetch URLs".to_string(),
        });
    }
    if !plugin.replaces.is_empty() {
        reach.push(format!(
            "replace the built-in tool{} {}",
            if plugin.replaces.len() == 1 { "" } else { "s" },
            listed(&plugin.replaces)
        ));
    }
    (!reach.is_empty()).then(|| reach.join(" and "))
}

/// Whether a call of `plugin`'s tool `spec` with key argument `key` may go on to the
/// gate: within what the plugin declares it reaches (see `reach`), and by a plugin trusted
/// in the project at `root` (see [`check`]). The error is the message for the model and
/// the user.
pub fn admit(
    plugin: &Plugin,
    spec: &ToolSpec,
    key: Option<&str>,
    root: &Path,
    yes: bool,
    approver: Option<&mut (dyn Approver + '_)>,
) -> Result<(), String> {
    super::reach::precheck(&plugin.info.manifest, spec, key)?;
    check(plugin, root, yes, approver)
}

/// Lets `plugin` run in the project at `root`, asking `approver` the first time (`yes`:
/// the user passed `--yes`, which allows without recording). The error is the message
/// for the model and the user.
fn check(
    plugin: &Plugin,
    root: &Path,
    yes: bool,
    approver: Option<&mut (dyn Approver + '_)>,
) -> Result<(), String> {
    let Some(reach) = needs_trust(plugin) else {
        return Ok(());
    };
    if yes {
        return Ok(());
    }
    let digest = plugin.digest()?;
    let subject = format!("plugin {} {digest}", plugin.name());
    // Before the one trust store, entries were `NAME DIGEST`.
    let legacy = format!("{} {digest}", plugin.name());
    if crate::trust::is_trusted(root, &subject) || crate::trust::is_trusted(root, &legacy) {
        return Ok(());
    }
    let source = match &plugin.origin {
        Origin::Installed(path) | Origin::File(path) => path.display().to_string(),
        Origin::Builtin => String::new(),
    };
    let Some(approver) = approver else {
        return Err(format!(
            "plugin `{}` ({source}) can {reach} and is not trusted in this project yet; run conch on a terminal to be asked once, or pass --yes",
            plugin.name()
        ));
    };
    let question = format!(
        "Plugin `{}` ({source}) can {reach} (each one is still asked for). Trust it in this project?",
        plugin.name()
    );
    match approver.approve(&question) {
        Approval::Once | Approval::ForSession => {
            if let Err(e) = crate::trust::record(root, &subject) {
                tracing::warn!("cannot record the trust in plugin {}: {e}", plugin.name());
            }
            Ok(())
        }
        Approval::Interrupted => Err("error: not run: the user interrupted the turn".into()),
        Approval::No(message) => Err(message.unwrap_or_else(|| {
            format!(
                "the user did not trust plugin `{}` in this project",
                plugin.name()
            )
        })),
    }
}
