//! `conch:tool/log`: a plugin's diagnostics go to the host's log, tagged with the plugin.

use super::CallState;
use super::bindings::conch::tool::log::{Host, Level};

impl Host for CallState {
    fn log(&mut self, level: Level, message: String) {
        let plugin = self.plugin.as_str();
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}
