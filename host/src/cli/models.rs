//! `conch models`: the models the configured provider offers, asked of the provider
//! itself (`GET {base_url}/models`) through the client conch talks to it with.

use std::io::Write;
use std::process::ExitCode;

use super::CliError;
use crate::config::FlagOverrides;
use crate::provider::openai::OpenAiProvider;

/// Prints the provider's model ids, one a line; the one conch would ask is marked `*`.
pub fn run(provider: Option<String>, trust: bool) -> Result<ExitCode, CliError> {
    let usage = |e: &dyn std::fmt::Display| CliError::Usage(e.to_string());
    let cwd = super::cwd_or_current(None)?;
    let config = super::load_config(&cwd, trust, false)?;
    let resolved = config
        .resolve(&FlagOverrides {
            provider,
            model: None,
        })
        .map_err(|e| usage(&e))?;
    if resolved.provider.agent_cli.is_some() {
        return Err(CliError::Usage(format!(
            "provider `{}` is an agent CLI, which lists no models; see its own documentation",
            resolved.provider.name
        )));
    }
    let client = OpenAiProvider::new(&resolved.provider, resolved.idle_timeout)
        .map_err(|e| usage(&format!("{e:#}")))?;
    let ids = super::chat::runtime()?
        .block_on(client.models())
        .map_err(|e| CliError::Failed(e.into()))?;
    let mut out = std::io::stdout().lock();
    for id in &ids {
        let mark = if *id == resolved.provider.model {
            "*"
        } else {
            " "
        };
        writeln!(out, "{mark} {id}").map_err(|e| CliError::Failed(e.into()))?;
    }
    if ids.is_empty() {
        eprintln!("provider `{}` lists no models", resolved.provider.name);
    }
    Ok(ExitCode::SUCCESS)
}
