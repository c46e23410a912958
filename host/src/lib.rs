//! conch: a local coding agent whose every tool is a sandboxed WebAssembly component.
//!
//! The binary (`main.rs`) is thin; everything it does lives in these modules.

pub mod agent;
pub mod bench;
pub mod changeset;
pub mod cli;
pub mod config;
pub mod custom_command;
pub mod dirs;
pub mod front_matter;
pub mod host_api;
pub mod image;
pub mod lsp;
pub mod mcp;
pub mod message;
pub mod permission;
pub mod plugin;
pub mod provider;
pub mod sandbox;
pub mod session;
pub mod skills;
pub mod trust;
pub mod ui;
pub mod workspace;
