//! `conch-plugin`: what a conch tool plugin depends on — the WIT bindings, the export
//! macro, and helpers for input, workspace paths and output size.
//!
//! A plugin implements [`Guest`] and exports it:
//!
//! ```ignore
//! struct Hello;
//! impl conch_plugin::Guest for Hello {
//!     fn invoke(tool: String, input: String, ctx: conch_plugin::CallContext)
//!         -> Result<conch_plugin::ToolOutput, conch_plugin::ToolError> {
//!         Ok(conch_plugin::ToolOutput::text(format!("hello from {tool} in {}", ctx.cwd)))
//!     }
//! }
//! conch_plugin::export_plugin!(Hello);
//! ```
//!
//! Its manifest (tools, schemas, capabilities) lives in `manifest.json` beside its
//! `Cargo.toml`; the build embeds it into the component as a custom section.

pub mod input;
pub mod output;
pub mod workspace;

/// Bindings generated from `wit/tool.wit` (world `plugin`).
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "export_plugin",
        default_bindings_module: "conch_plugin::bindings",
    });
}

pub use bindings::conch::tool::types::{CallContext, ToolError, ToolOutput};
pub use bindings::export_plugin;
pub use bindings::exports::conch::tool::tool::Guest;
pub use input::parse_input;
pub use workspace::Workspace;

impl ToolOutput {
    /// Output made of text for the model only.
    pub fn text(text: impl Into<String>) -> Self {
        ToolOutput {
            text: text.into(),
            metadata: None,
        }
    }

    /// Attaches JSON metadata for the UI.
    pub fn with_metadata(mut self, metadata: &serde_json::Value) -> Self {
        self.metadata = Some(metadata.to_string());
        self
    }
}

/// Logs a message into the host's log at debug level (never shown to the model).
pub fn debug(message: &str) {
    bindings::conch::tool::log::log(bindings::conch::tool::log::Level::Debug, message);
}
