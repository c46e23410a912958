//! `conch repl`: read a line, run a turn, repeat. Ctrl-C during a turn stops only that
//! turn; Ctrl-C at the prompt clears the line; Ctrl-D or /exit leaves.

use std::io::IsTerminal;
use std::process::ExitCode;

use rustyline::error::ReadlineError;

use super::chat::{Prepared, history_file, interrupt_on_ctrl_c, prepare, runtime};
use super::{ChatArgs, CliError};
use crate::agent::{AgentEvent, TurnIo};
use crate::permission::Approver;
use crate::ui::{TerminalApprover, TextRenderer};

const HELP: &str = "\
Type a task and press Enter. Commands:
  /help      this help
  /compact   summarise older turns now to free context
  /session   the session id
  /undo      put back the files the last change wrote
  /exit      leave (also Ctrl-D)
Ctrl-C stops the running turn; the session keeps what happened.";

/// Runs the repl until the user leaves.
pub fn run(args: &ChatArgs) -> Result<ExitCode, CliError> {
    let Prepared { mut agent, start } = prepare(args)?;
    let terminal = std::io::stderr().is_terminal();
    let mut renderer = TextRenderer::new(crate::ui::use_colour(terminal), terminal);
    if let AgentEvent::SessionStart {
        session_id,
        model,
        provider,
        resumed,
        ..
    } = &start
    {
        let verb = if *resumed { "continuing" } else { "session" };
        eprintln!("conch {verb} {session_id} · {model} via {provider} · /help for commands");
    }
    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot start line editing: {e}")))?;
    let history = history_file();
    if let Some(file) = &history {
        let _ = editor.load_history(file);
    }
    let runtime = runtime()?;
    let mut approver = TerminalApprover;
    let ask = std::io::stdin().is_terminal();
    if ask {
        agent.set_asker(Some(std::sync::Arc::new(crate::ui::TerminalAsker)));
    }
    loop {
        let line = match editor.readline("conch> ") {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(CliError::Failed(anyhow::anyhow!("cannot read input: {e}"))),
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line);
        match line {
            "/exit" | "/quit" => break,
            "/help" => {
                eprintln!("{HELP}");
                continue;
            }
            "/session" => {
                eprintln!("session {}", agent.session_id());
                continue;
            }
            "/undo" => {
                let cwd = agent.working_dir().to_path_buf();
                match super::undo::undo_last(Some(agent.session_id()), &cwd, false) {
                    Ok(done) => eprintln!("{done}"),
                    Err(e) => eprintln!("error: {e}"),
                }
                continue;
            }
            _ => {}
        }
        if line.starts_with('/') && line != "/compact" {
            eprintln!("unknown command {line}; /help lists them");
            continue;
        }
        let approver: Option<&mut dyn Approver> = if ask { Some(&mut approver) } else { None };
        runtime.block_on(async {
            let (interrupt, watcher) = interrupt_on_ctrl_c();
            let mut io = TurnIo {
                events: &mut renderer,
                approver,
                interrupt,
            };
            if line == "/compact" {
                match agent.compact(&mut io, true).await {
                    Ok(true) => {}
                    Ok(false) => eprintln!("nothing to compact yet"),
                    Err(e) => io.events.emit(&AgentEvent::Error {
                        message: e.to_string(),
                    }),
                }
            } else {
                // Failures were shown as events; the repl goes on.
                let _ = agent.run_turn(Some(line), &mut io).await;
            }
            watcher.abort();
        });
    }
    if let Some(file) = &history {
        let _ = editor.save_history(file);
    }
    Ok(ExitCode::SUCCESS)
}
