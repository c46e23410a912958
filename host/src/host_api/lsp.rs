//! The `lsp` import (capability `lsp`): one language-server query per call. The host
//! binds each call to the path the gate approved (`lsp` permission, key: the path): the
//! plugin passes the query, the host's language-server manager (`crate::lsp`) answers,
//! and places in files that a `read` rule denies, or commands may not read, are left out
//! of the answer. `workspace_symbols` may come without a path (no key: the servers
//! running, or those of the files the session touched, are asked).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde::Deserialize;

use wasmtime::component::{HasSelf, Linker};
use wasmtime_wasi::WasiCtxBuilder;

use super::bindings::conch::tool::lsp as wit;
use super::{CallState, Grant, HostCapability, ToolError};
use crate::lsp::LanguageServers;
use crate::lsp::query::{Operation, Request, Visibility, render};

/// The `lsp` capability.
pub struct Lsp;

impl HostCapability for Lsp {
    const NAME: &'static str = "lsp";
    const MEANING: &'static str =
        "ask the language servers about the path each call approves (`lsp`)";
    const INTERFACES: &'static [&'static str] = &["lsp"];
    type Access = LspAccess;

    fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
        wit::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)
    }

    fn grant(grant: &Grant<'_>, _: &mut WasiCtxBuilder) -> Result<Option<LspAccess>, ToolError> {
        Ok(Some(LspAccess {
            approved: grant.approved.map(str::to_string),
            servers: grant.ctx.lsp.clone(),
            cwd: grant.ctx.cwd.clone(),
            roots: grant.ctx.roots.clone(),
            deny_read: grant.limits.sandbox.deny_read.clone(),
            cancel: grant.ctx.cancel.clone(),
        }))
    }
}

/// What one call may ask.
#[derive(Clone)]
pub struct LspAccess {
    /// The path the gate approved (as the model wrote it).
    pub approved: Option<String>,
    /// `None` when no language server was found for the run.
    pub servers: Option<Arc<LanguageServers>>,
    pub cwd: PathBuf,
    pub roots: Vec<PathBuf>,
    /// Paths commands may not read (`[sandbox] deny_read` and the built-in list): places
    /// there are left out.
    pub deny_read: Vec<PathBuf>,
    /// Set when the user interrupts the call.
    pub cancel: Arc<AtomicBool>,
}

/// The plugin's request as it sends it.
#[derive(Deserialize)]
struct Query {
    operation: String,
    path: Option<String>,
    line: Option<u32>,
    column: Option<u32>,
    symbol: Option<String>,
    occurrence: Option<u32>,
    query: Option<String>,
}

impl LspAccess {
    fn absolute(&self, path: &str) -> PathBuf {
        let joined = self.cwd.join(path);
        std::path::absolute(&joined).unwrap_or(joined)
    }

    fn visibility(&self, path: &Path) -> Visibility {
        let denied_by_rule = self
            .servers
            .as_ref()
            .is_some_and(|servers| servers.denies_read(path));
        if denied_by_rule || self.deny_read.iter().any(|denied| path.starts_with(denied)) {
            Visibility::Hidden
        } else if self.roots.iter().any(|root| path.starts_with(root)) {
            Visibility::Shown
        } else {
            Visibility::WithoutText
        }
    }

    /// Runs the plugin's request, bound to the approved path.
    fn query(&self, request_json: &str) -> Result<String, String> {
        let Some(servers) = &self.servers else {
            return Err("no language server is configured or found on PATH for this run; configure one with an [lsp.NAME] table in conch.toml (see `conch lsp status`)".into());
        };
        let query: Query = serde_json::from_str(request_json)
            .map_err(|e| format!("the lsp request cannot be read: {e}"))?;
        let operation = Operation::parse(&query.operation)
            .ok_or_else(|| format!("there is no lsp operation `{}`", query.operation))?;
        let approved = self.approved.as_deref().map(|p| self.absolute(p));
        let Some(path) = query.path.as_deref().map(|p| self.absolute(p)) else {
            if operation != Operation::WorkspaceSymbols {
                return Err("give `path`, the file to ask about".into());
            }
            if let Some(approved) = approved {
                return Err(format!(
                    "this call was approved for {}, not for a search without a path",
                    approved.display()
                ));
            }
            let text = query.query.unwrap_or_default();
            let answers = servers.workspace_symbols(&text, &self.cancel)?;
            let visible = |p: &Path| self.visibility(p);
            let rendered: Vec<String> = answers
                .iter()
                .filter(|answer| !answer.is_empty())
                .map(|answer| render(answer, servers.workspace(), &visible))
                .collect();
            return Ok(if rendered.is_empty() {
                "no symbol matches".into()
            } else {
                rendered.join("\n")
            });
        };
        if approved.as_deref() != Some(path.as_path()) {
            return Err(format!(
                "this call was approved for {}, not {}",
                approved.map_or_else(|| "no path".into(), |p| p.display().to_string()),
                path.display()
            ));
        }
        if !self.roots.iter().any(|root| path.starts_with(root)) {
            return Err(format!("{} is outside the workspace", path.display()));
        }
        if self.visibility(&path) == Visibility::Hidden {
            return Err(format!("{} may not be read", path.display()));
        }
        let request = Request {
            operation,
            path,
            line: query.line,
            column: query.column,
            symbol: query.symbol,
            occurrence: query.occurrence,
            query: query.query,
        };
        let answer = servers.query(request, &self.cancel)?;
        Ok(render(&answer, servers.workspace(), &|p| {
            self.visibility(p)
        }))
    }
}

impl wit::Host for CallState {
    fn query(&mut self, request_json: String) -> Result<String, String> {
        let Some(access) = &self.granted.lsp else {
            return Err("this call was not granted the language servers".into());
        };
        // A query is bounded by the manager's own timeouts (initialize 45 s, requests 10 s).
        self.clock.excluding(|| access.query(&request_json))
    }
}
