//! The tools as the loop uses them: their definitions for the model, and checking a
//! call's arguments against the tool's JSON schema before anything runs.

use std::collections::HashMap;
use std::sync::Arc;

use crate::plugin::{PluginRegistry, ToolSpec};
use crate::provider::ToolDefinition;

/// The registry plus a compiled schema validator per tool, built on first use.
pub struct ToolBox {
    registry: Arc<PluginRegistry>,
    validators: HashMap<String, Result<jsonschema::Validator, String>>,
}

/// Why a call's arguments were refused; the message goes to the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidArguments(pub String);

impl ToolBox {
    pub fn new(registry: Arc<PluginRegistry>) -> Self {
        ToolBox {
            registry,
            validators: HashMap::new(),
        }
    }

    /// Builds, on a background thread, what checking the first call's arguments needs
    /// whatever the tool: the JSON Schema meta-schema validator (~1.4 ms, built once per
    /// process, against ~10 µs for each tool's own schema after it). A run calls this as
    /// it starts, while its first request is on its way.
    pub fn check_ahead() {
        let spawned = std::thread::Builder::new()
            .name("conch-schemas".into())
            .spawn(|| {
                let _ = jsonschema::validator_for(&serde_json::json!({"type": "object"}));
            });
        if let Err(e) = spawned {
            tracing::debug!("no thread to prepare the schema checks ahead: {e}");
        }
    }

    pub fn registry(&self) -> &Arc<PluginRegistry> {
        &self.registry
    }

    /// Every tool, as the model is told about it.
    pub fn definitions(&self) -> Vec<ToolDefinition> {
        self.definitions_where(|_| true)
    }

    /// The tools agent `profile` offers, as the model is told about them.
    pub fn definitions_for(&self, profile: &super::AgentProfile) -> Vec<ToolDefinition> {
        self.definitions_where(|spec| profile.offers(spec))
    }

    fn definitions_where(&self, offered: impl Fn(&ToolSpec) -> bool) -> Vec<ToolDefinition> {
        self.registry
            .tools()
            .filter(|(_, spec)| offered(spec))
            .map(|(_, spec)| ToolDefinition {
                name: spec.name.clone(),
                description: spec.description.clone(),
                parameters: spec.input_schema.clone(),
            })
            .collect()
    }

    /// Takes in a change of the MCP tools (a server ready late, a changed list): `Some`
    /// with what to tell the user when the tools changed.
    pub fn refresh(&mut self) -> Option<Vec<String>> {
        let news = self.registry.refresh_mcp()?;
        // A changed MCP tool may have a new schema.
        self.validators
            .retain(|name, _| !name.starts_with(crate::mcp::naming::PREFIX));
        Some(news)
    }

    /// The spec of tool `name`.
    pub fn spec(&self, name: &str) -> Option<&ToolSpec> {
        self.registry.find(name).map(|(_, spec)| spec)
    }

    /// Parses `arguments` and checks them against tool `name`'s schema.
    pub fn parse_arguments(
        &mut self,
        name: &str,
        arguments: &str,
    ) -> Result<serde_json::Value, InvalidArguments> {
        let text = if arguments.trim().is_empty() {
            "{}"
        } else {
            arguments
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            InvalidArguments(format!(
                "invalid arguments for `{name}`: not valid JSON ({e}); send one JSON object matching the tool's schema"
            ))
        })?;
        let Some(spec) = self.registry.find(name).map(|(_, spec)| spec) else {
            return Ok(value);
        };
        let validator = self.validators.entry(name.to_string()).or_insert_with(|| {
            jsonschema::validator_for(&spec.input_schema).map_err(|e| e.to_string())
        });
        let validator = match validator {
            Ok(validator) => validator,
            Err(e) => {
                // A plugin's broken schema is its author's bug; the plugin still checks
                // its own input, so the call goes on.
                tracing::warn!(tool = name, "the tool's input schema is not usable: {e}");
                return Ok(value);
            }
        };
        let problems: Vec<String> = validator
            .iter_errors(&value)
            .take(5)
            .map(|error| {
                let at = error.instance_path().to_string();
                if at.is_empty() {
                    error.to_string()
                } else {
                    format!("{at}: {error}")
                }
            })
            .collect();
        if problems.is_empty() {
            return Ok(value);
        }
        Err(InvalidArguments(format!(
            "invalid arguments for `{name}`: {}; the schema is {}",
            problems.join("; "),
            spec.input_schema
        )))
    }
}
