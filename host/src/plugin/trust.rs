//! Trusting a third-party plugin that can run commands or reach the network, once per
//! project. Built-ins are trusted, and so is a file named with `--plugin` for that run
//! (you typed it); an installed plugin declaring `process` or `http` is asked about on
//! its first call in a project (each command or fetch is still asked for by the gate).
//! A yes is kept in the data dir, by project root and the plugin's digest, so a changed
//! plugin is asked about again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Capability, Origin, Plugin};
use crate::permission::{Approval, Approver};

/// The file of trusted plugins: project root → `name sha256` entries.
fn store_file() -> Option<PathBuf> {
    crate::dirs::data_dir().map(|d| d.join("trusted-plugins.json"))
}

/// Whether `plugin` needs trusting before it runs: third-party, with a capability that
/// reaches beyond the workspace.
fn needs_trust(plugin: &Plugin) -> Option<&'static str> {
    if !matches!(plugin.origin, Origin::Installed(_)) {
        return None;
    }
    let caps = &plugin.info.manifest.capabilities;
    match (
        caps.contains(&Capability::Process),
        caps.contains(&Capability::Http),
    ) {
        (true, true) => Some("run commands and fetch URLs"),
        (true, false) => Some("run commands"),
        (false, true) => Some("fetch URLs"),
        (false, false) => None,
    }
}

/// Lets `plugin` run in the project at `root`, asking `approver` the first time (`yes`:
/// the user passed `--yes`, which allows without recording). The error is the message
/// for the model and the user.
pub fn check(
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
    let entry = format!("{} {}", plugin.name(), plugin.digest());
    let project = root.to_string_lossy().into_owned();
    let mut trusted = load();
    if trusted.get(&project).is_some_and(|e| e.contains(&entry)) {
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
            trusted.entry(project).or_default().push(entry);
            if let Err(e) = save(&trusted) {
                tracing::warn!("cannot record the trust in plugin {}: {e}", plugin.name());
            }
            Ok(())
        }
        Approval::No(message) => Err(message.unwrap_or_else(|| {
            format!(
                "the user did not trust plugin `{}` in this project",
                plugin.name()
            )
        })),
    }
}

fn load() -> BTreeMap<String, Vec<String>> {
    store_file()
        .and_then(|f| std::fs::read(f).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save(trusted: &BTreeMap<String, Vec<String>>) -> std::io::Result<()> {
    let file = store_file().ok_or_else(|| std::io::Error::other("no data dir"))?;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temp = file.with_extension("json.tmp");
    std::fs::write(&temp, serde_json::to_vec_pretty(trusted)?)?;
    std::fs::rename(temp, file)
}
