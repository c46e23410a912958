//! `conch tool`: run one tool directly, through the same gate and sandbox the agent uses.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::{CliError, error_kind};
use crate::message::{Message, ToolCall};
use crate::permission::{Approver, Decision, Flags, Gate, Request};
use crate::plugin::{CallLimits, ToolError};
use crate::session::{Entry, Header, SessionStore, SessionWriter};

/// What `conch tool` was asked to do.
pub struct ToolRun {
    pub name: String,
    pub input: String,
    pub cwd: Option<PathBuf>,
    pub timeout: f64,
    pub json: bool,
    pub flags: Flags,
    pub sandbox: super::SandboxArgs,
    pub plugins: super::PluginArgs,
    pub trust_project: bool,
}

pub fn run_tool(run: ToolRun) -> Result<ExitCode, CliError> {
    let ToolRun {
        name,
        input,
        cwd,
        timeout,
        json,
        flags,
        sandbox,
        plugins,
        trust_project,
    } = run;
    let cwd = match cwd {
        Some(dir) => dir,
        None => std::env::current_dir()
            .map_err(|e| CliError::Usage(format!("cannot read the current directory: {e}")))?,
    };
    let input_from_stdin = input == "-";
    // Someone can be asked only on a terminal whose stdin does not carry the input.
    let present = !input_from_stdin && std::io::stdin().is_terminal();
    let config = super::load_config(&cwd, trust_project, present)?;
    let registry = super::registry(&plugins, Some((&cwd, &config)))?;
    let name = name.as_str();
    let Some((plugin, spec)) = registry.find(name) else {
        return Err(CliError::Usage(registry.unknown_tool(name).to_string()));
    };
    // Compile (or load) while we read the input and set up the workspace.
    registry.warm_up_tool(name);
    let input = if input_from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::Usage(format!("cannot read the input from stdin: {e}")))?;
        text
    } else {
        input
    };
    let value = serde_json::from_str::<serde_json::Value>(&input)
        .map_err(|e| CliError::Usage(format!("the input is not valid JSON: {e}")))?;
    if !(timeout.is_finite() && timeout > 0.0) {
        return Err(CliError::Usage(
            "--timeout must be a positive number of seconds".into(),
        ));
    }
    let ctx = crate::workspace::context_for(&cwd).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut gate = Gate::new(config.permission(), flags);
    let mut terminal = crate::ui::TerminalApprover;
    let mut approver: Option<&mut dyn Approver> = if present { Some(&mut terminal) } else { None };
    let mut ctx = ctx;
    if present {
        ctx.asker = Some(std::sync::Arc::new(crate::ui::TerminalAsker));
    }
    let request = Request::new(spec, &value, &ctx);
    if let Some(root) = ctx.roots.first()
        && let Err(message) = crate::plugin::trust::admit(
            plugin,
            spec,
            request.key.as_deref(),
            root,
            flags.yes,
            approver.as_deref_mut(),
        )
    {
        return report_error(&ToolError::Denied(message), json);
    }
    // A tool that changes files is asked about with its diff once it has staged them.
    let decide_on_changes =
        spec.permission == "edit" && gate.decide(&request).decision != Decision::Deny;
    let requests = if decide_on_changes {
        Vec::new()
    } else {
        Request::all_for(spec, &value, &ctx)
    };
    for request in &requests {
        if let Err(denied) = gate.check(request, approver.as_deref_mut()) {
            return report_error(&ToolError::Denied(denied.message), json);
        }
    }
    let limits = CallLimits {
        timeout: Duration::from_secs_f64(timeout),
        sandbox: sandbox.policy(&config),
        http: config.webfetch(),
        ..CallLimits::default()
    };
    let mut result = registry.call(name, &input, &ctx, &limits);
    if let Ok(output) = &mut result
        && let Some(changes) = output.changes.take()
    {
        let requests: Vec<Request> = changes
            .paths()
            .into_iter()
            .map(|path| Request {
                tool: name.to_string(),
                permission: "edit".into(),
                key: Some(path),
            })
            .collect();
        let decision = gate.check_changeset(
            &requests,
            &changes.diff(),
            crate::changeset::path::is_protected,
            approver,
        );
        if let Err(denied) = decision {
            return report_error(&ToolError::Denied(denied.message), json);
        }
        let session = match journal(name, &input, &ctx, &changes) {
            Ok(session) => session,
            Err(message) => return report_error(&ToolError::Failed(message), json),
        };
        if let Err(e) = crate::changeset::commit(&changes) {
            return report_error(&ToolError::Failed(e.to_string()), json);
        }
        let (mut writer, record) = session;
        if let Err(e) = writer.append(&Entry::Changeset(record)) {
            eprintln!("warning: the change was made but not journaled for undo: {e}");
        }
        output.text = changes.report(&output.text);
        let mut metadata = output
            .metadata
            .take()
            .unwrap_or_else(|| serde_json::json!({}));
        if let Some(fields) = metadata.as_object_mut() {
            fields.insert("diff".into(), changes.diff().into());
        }
        output.metadata = Some(metadata);
    }
    let output = match result {
        Ok(output) => output,
        Err(e) => return report_error(&e, json),
    };
    let mut out = std::io::stdout().lock();
    let written = if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"text": output.text, "metadata": output.metadata})
        )
    } else if output.text.ends_with('\n') {
        write!(out, "{}", output.text)
    } else {
        writeln!(out, "{}", output.text)
    };
    written.map_err(|e| CliError::Failed(e.into()))?;
    Ok(ExitCode::SUCCESS)
}

/// A one-call session for a direct call that changes files, so that `conch undo` can put
/// them back: the call and its pre-images are saved before anything is written.
fn journal(
    name: &str,
    input: &str,
    ctx: &crate::plugin::CallContext,
    changes: &crate::changeset::Changeset,
) -> Result<(SessionWriter, crate::changeset::ChangeRecord), String> {
    let cannot = |e: &dyn std::fmt::Display| {
        format!("cannot save the copy needed to undo this change ({e}); nothing was written")
    };
    let store = SessionStore::open_default().map_err(|e| cannot(&e))?;
    let mut writer = store
        .create(Header {
            id: String::new(),
            cwd: ctx.cwd.to_string_lossy().into_owned(),
            provider: String::new(),
            model: String::new(),
            version: env!("CARGO_PKG_VERSION").into(),
            created: crate::session::now_rfc3339(),
            replay_of: None,
            tool_run: Some(name.to_string()),
        })
        .map_err(|e| cannot(&e))?;
    let call = ToolCall {
        id: "tool-1".into(),
        name: name.to_string(),
        arguments: input.to_string(),
    };
    writer
        .append(&Entry::Message(Message::Assistant {
            content: None,
            reasoning_content: None,
            tool_calls: vec![call.clone()],
        }))
        .map_err(|e| cannot(&e))?;
    let record = crate::changeset::record(changes, &call.id, name, &writer.blob_dir())
        .map_err(|e| cannot(&e))?;
    writer
        .append(&Entry::Message(Message::tool_result(
            &call.id,
            changes.paths().join(", "),
        )))
        .map_err(|e| cannot(&e))?;
    Ok((writer, record))
}

/// Prints a tool error (as JSON with `--json`) and exits 1.
fn report_error(error: &ToolError, json: bool) -> Result<ExitCode, CliError> {
    if json {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{}",
            serde_json::json!({"error": {"kind": error_kind(error), "message": error.to_string()}})
        )
        .map_err(|e| CliError::Failed(e.into()))?;
    } else {
        eprintln!("error: {error}");
    }
    Ok(ExitCode::from(1))
}
