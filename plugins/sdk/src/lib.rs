//! `conch-plugin`: what a conch tool plugin depends on — the WIT bindings, the export
//! macro, and helpers for input, workspace paths and output size.
//!
//! A tool is a type implementing [`Tool`]; [`plugin!`] exports a plugin's tools:
//!
//! ```ignore
//! use conch_plugin::{CallContext, Tool, ToolError, ToolOutput};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Input {
//!     /// Who to greet.
//!     name: String,
//! }
//!
//! struct Hello;
//! impl Tool for Hello {
//!     const NAME: &'static str = "hello";
//!     const DESCRIPTION: &'static str = "Greets someone";
//!     type Input = Input;
//!     fn run(input: Input, _ctx: &CallContext) -> Result<ToolOutput, ToolError> {
//!         Ok(ToolOutput::text(format!("hello, {}", input.name)))
//!     }
//! }
//!
//! conch_plugin::plugin!(Hello);
//! ```
//!
//! `conch plugin build` compiles it for wasm32-wasip2, asks it for its tools' specs
//! (schemas derived from the input types), takes the name, version and description from
//! Cargo.toml and the capabilities from `[package.metadata.conch]`, and embeds the
//! manifest. A crate may also keep a `manifest.json` beside its Cargo.toml (conch's
//! built-ins do: conch's build embeds it as it is); a test calling
//! [`manifest::check_manifest`] keeps its `tools` equal to what the code derives. A plugin
//! may also implement [`Guest`] itself, with a hand-written manifest.

pub mod input;
pub mod manifest;
pub mod output;
pub mod tool;
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
pub use tool::Tool;
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
