//! `conch mcp serve`: conch's own toolbox (built-ins and installed plugins) served over
//! MCP stdio, so another agent (Claude Code, Codex, opencode) calls conch's sandboxed tools
//! through the same dispatch as `conch tool`: gate, sandbox, staging, commit and undo
//! journal, all in one session per server run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::chat::block_on;
use super::{CliError, PermissionArgs, PluginArgs, SandboxArgs};
use crate::agent::{AgentEvent, CallOutcome, Dispatcher, StaleCheck, ToolBox, TurnIo};
use crate::message::{Message, ToolCall};
use crate::permission::Gate;
use crate::plugin::CallLimits;
use crate::session::{Entry, Header, SessionStore, SessionWriter};

/// What a server run's session header says in `tool_run`: `conch sessions` lists it as
/// such, and `--continue` never picks it.
pub const TOOL_RUN: &str = "mcp serve";

/// `conch mcp serve`'s options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The workspace the tools work in (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Seconds before a call is stopped.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub timeout: f64,
    #[command(flatten)]
    pub permission: PermissionArgs,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// One call handed from the protocol side to the dispatcher.
struct Job {
    name: String,
    arguments: String,
    /// Cancelled when the client sends `notifications/cancelled` for the request.
    cancel: CancellationToken,
    reply: oneshot::Sender<Result<CallToolResult, ErrorData>>,
}

/// The protocol side: answers `initialize` and `tools/list` itself and queues calls.
struct Server {
    tools: Arc<Vec<Tool>>,
    jobs: mpsc::UnboundedSender<Job>,
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("conch", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "conch's sandboxed tools. Edits are staged and committed atomically, and \
                 `conch undo` puts them back; a call the permission gate refuses comes \
                 back as an error saying why.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = serde_json::Value::Object(request.arguments.unwrap_or_default());
        let (reply, answer) = oneshot::channel();
        let job = Job {
            name: request.name.into_owned(),
            arguments: arguments.to_string(),
            cancel: context.ct.clone(),
            reply,
        };
        if self.jobs.send(job).is_err() {
            return Err(ErrorData::internal_error("the server is stopping", None));
        }
        match answer.await {
            Ok(result) => result.map(CallToolResponse::from),
            Err(_) => Err(ErrorData::internal_error("the server is stopping", None)),
        }
    }
}

pub fn run(args: ServeArgs, trust_project: bool) -> Result<ExitCode, CliError> {
    let ServeArgs {
        cwd,
        timeout,
        permission,
        sandbox,
        plugins,
    } = args;
    let cwd = super::cwd_or_current(cwd)?;
    if !(timeout.is_finite() && timeout > 0.0) {
        return Err(CliError::Usage(
            "--timeout must be a positive number of seconds".into(),
        ));
    }
    // stdin and stdout carry the protocol: nobody can be asked.
    let config = super::load_config(&cwd, trust_project, false)?;
    let registry = Arc::new(super::registry(&plugins, Some((&cwd, &config)))?);
    let toolbox = ToolBox::new(registry);
    let tools = Arc::new(
        toolbox
            .definitions()
            .into_iter()
            .map(|definition| {
                let schema = match definition.parameters {
                    serde_json::Value::Object(schema) => schema,
                    _ => serde_json::Map::new(),
                };
                Tool::new(definition.name, definition.description, schema)
            })
            .collect::<Vec<_>>(),
    );
    let ctx = crate::workspace::context_for(&cwd).map_err(|e| CliError::Usage(e.to_string()))?;
    let header = Header::tool_run(&ctx.cwd, TOOL_RUN);
    let mut session = SessionStore::open_default()
        .and_then(|store| store.create(header))
        .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot create the session: {e}")))?;
    let limits = CallLimits {
        timeout: Duration::from_secs_f64(timeout),
        ..sandbox.call_limits(&config)
    };
    // The client may have read a file with its own tools, which conch cannot see; a file
    // it read (or wrote) through this server is checked as in a run.
    let mut dispatcher = Dispatcher::new(
        toolbox,
        Gate::new(config.permission(), permission.flags()),
        ctx,
        limits,
    )
    .with_stale_check(StaleCheck::SeenOnly);
    tracing::info!(session = %session.id(), tools = tools.len(), "serving MCP on stdio");

    let (jobs, mut queue) = mpsc::unbounded_channel();
    let server = Server { tools, jobs };
    block_on(async move {
        let service = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| CliError::Failed(anyhow::anyhow!("MCP initialization failed: {e}")))?;
        // Calls run here, one at a time in the order they came, on this task: the
        // dispatcher and the session are not shared with the protocol's tasks.
        let calls = async {
            let mut count = 0u64;
            while let Some(job) = queue.recv().await {
                count += 1;
                let answer = handle(&mut dispatcher, &mut session, count, &job).await;
                let _ = job.reply.send(answer);
            }
        };
        tokio::select! {
            ended = service.waiting() => {
                ended.map_err(|e| CliError::Failed(anyhow::anyhow!("the MCP service failed: {e}")))?;
            }
            () = calls => {}
        }
        Ok(ExitCode::SUCCESS)
    })?
}

/// Runs one call through the dispatcher and records it (the call, its decisions and
/// changes, its result) in the server's session.
async fn handle(
    dispatcher: &mut Dispatcher,
    session: &mut SessionWriter,
    count: u64,
    job: &Job,
) -> Result<CallToolResult, ErrorData> {
    let call = ToolCall {
        id: format!("mcp-{count}"),
        name: job.name.clone(),
        arguments: job.arguments.clone(),
    };
    let journal_failed =
        |e: crate::session::SessionError| ErrorData::internal_error(format!("session: {e}"), None);
    session
        .append(&Entry::Message(Message::Assistant {
            content: None,
            reasoning_content: None,
            tool_calls: vec![call.clone()],
        }))
        .map_err(journal_failed)?;
    let mut events: Vec<AgentEvent> = Vec::new();
    let mut io = TurnIo {
        events: &mut events,
        approver: None,
        interrupt: job.cancel.clone(),
    };
    let outcome = dispatcher
        .dispatch(&call, session, &mut io)
        .await
        .map_err(journal_failed)?;
    let (text, ok) = outcome
        .for_model()
        .unwrap_or_else(|| ("error: not run: the client cancelled it".into(), false));
    session
        .append(&Entry::Message(Message::tool_result(
            &call.id,
            text.clone(),
        )))
        .map_err(journal_failed)?;
    tracing::debug!(tool = %call.name, ok, "answered");
    let content = vec![ContentBlock::text(text)];
    Ok(match outcome {
        CallOutcome::Ran { .. } => CallToolResult::success(content),
        CallOutcome::Failed(_) | CallOutcome::Interrupted => CallToolResult::error(content),
    })
}
