//! The plugin runtime: reading manifests, compiling and caching components, and running
//! each tool call in a fresh, confined instance.

pub mod builtin;
pub mod cache;
pub mod call;
pub mod discovery;
pub mod engine;
pub mod engine_config;
pub mod manifest;
pub mod package;
pub mod reach;
pub mod registry;
pub mod trust;

pub use crate::host_api::{CallClock, CallContext, CallLimits, ToolError, ToolOutput};
pub use cache::CompileCache;
pub use manifest::{Capability, Manifest, PluginInfo, ToolSpec};
pub use registry::{Origin, Plugin, PluginRegistry, RegistryError};
