//! `conch repl`: read a line, run a turn, repeat. Ctrl-C during a turn stops only that
//! turn; Ctrl-C at the prompt clears the line; Ctrl-D or /exit leaves.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use rustyline::error::ReadlineError;

use super::chat::{
    Prepared, custom_commands, history_file, interrupt_on_ctrl_c, prepare, provider_for, runtime,
};
use super::{ChatArgs, CliError};
use crate::agent::{Agent, AgentEvent, AgentProfiles, TurnIo};
use crate::custom_command::CustomCommand;
use crate::message::Message;
use crate::permission::Approver;
use crate::provider::Provider;
use crate::ui::{TerminalApprover, TextRenderer};

const HELP: &str = "\
Type a task and press Enter. Commands:
  /help      this help
  /compact   summarise older turns now to free context
  /session   the session id
  /undo      put back the files the last change wrote
  /agent     list the agent profiles; /agent NAME switches to one
  /exit      leave (also Ctrl-D)
Ctrl-C stops the running turn; the session keeps what happened.";

/// Turns shown when the repl continues a session.
const RESUME_TURNS: usize = 3;

/// The last `turns` user prompts with what followed each: the answer's text (cut), and a
/// line per tool call. Empty when there is no user prompt.
fn last_turns(messages: &[Message], turns: usize) -> String {
    let users: Vec<usize> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| matches!(m, Message::User { .. }))
        .map(|(i, _)| i)
        .collect();
    let Some(&from) = users
        .len()
        .checked_sub(turns)
        .and_then(|i| users.get(i))
        .or(users.first())
    else {
        return String::new();
    };
    let mut out = String::new();
    if users.len() > turns {
        let earlier = users.len() - turns;
        let s = if earlier == 1 { "" } else { "s" };
        out.push_str(&format!("… {earlier} earlier turn{s}\n"));
    }
    for message in &messages[from..] {
        match message {
            Message::User { content } => {
                out.push_str(&format!("> {}\n", crate::ui::one_line(content, 100)));
            }
            Message::Assistant {
                content,
                tool_calls,
                ..
            } => {
                if let Some(text) = content.as_deref().filter(|t| !t.trim().is_empty()) {
                    let lines: Vec<&str> = text.trim().lines().collect();
                    for line in lines.iter().take(6) {
                        out.push_str(&format!("  {}\n", crate::ui::one_line(line, 100)));
                    }
                    if lines.len() > 6 {
                        out.push_str(&format!("  … {} more lines\n", lines.len() - 6));
                    }
                }
                for call in tool_calls {
                    out.push_str(&format!(
                        "  → {} {}\n",
                        call.name,
                        crate::ui::one_line(&call.arguments, 80)
                    ));
                }
            }
            Message::System { .. } | Message::Tool { .. } => {}
        }
    }
    out
}

/// Runs the repl until the user leaves.
pub fn run(args: &ChatArgs) -> Result<ExitCode, CliError> {
    let Prepared {
        mut agent,
        start,
        profiles,
        config,
    } = prepare(args, std::io::stdin().is_terminal())?;
    let commands = custom_commands(args)?;
    let terminal = std::io::stderr().is_terminal();
    let mut renderer = TextRenderer::new(crate::ui::use_colour(terminal), terminal);
    if let AgentEvent::SessionStart {
        session_id,
        model,
        provider,
        resumed,
        agent: agent_name,
        ..
    } = &start
    {
        let verb = if *resumed { "continuing" } else { "session" };
        eprintln!(
            "conch {verb} {session_id} · {model} via {provider} · agent {agent_name} · /help for commands"
        );
        if *resumed {
            // Where the conversation stands, before the user adds to it.
            let transcript = crate::session::SessionStore::open_default()
                .and_then(|store| crate::session::Transcript::load(&store, session_id));
            match transcript {
                Ok(transcript) => eprint!("{}", last_turns(&transcript.messages, RESUME_TURNS)),
                Err(e) => tracing::warn!("cannot show the last turns: {e}"),
            }
        }
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
                if commands.iter().next().is_some() {
                    eprintln!("Custom commands (/NAME arguments):");
                }
                for command in commands.iter() {
                    let about = command
                        .description
                        .as_deref()
                        .unwrap_or_else(|| command.body.lines().next().unwrap_or(""));
                    eprintln!("  /{:<9} {}", command.name, crate::ui::one_line(about, 70));
                }
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
        if line == "/agent" || line.starts_with("/agent ") {
            let name = line["/agent".len()..].trim();
            if name.is_empty() {
                for profile in profiles.iter() {
                    let mark = if profile.name == agent.agent_name() {
                        "*"
                    } else {
                        " "
                    };
                    eprintln!("{mark} {:<10} {}", profile.name, profile.description);
                }
                continue;
            }
            if name == agent.agent_name() {
                eprintln!("already agent {name}");
                continue;
            }
            match switch_agent(&mut agent, &profiles, name, args, &config) {
                Ok(()) => eprintln!("agent {name}"),
                Err(e) => eprintln!("error: {e}"),
            }
            continue;
        }
        // A custom command: its prompt, with its model for this turn.
        let mut prompt = line.to_string();
        let mut model_before = None;
        if let Some(invocation) = line.strip_prefix('/').filter(|_| line != "/compact") {
            let (name, arguments) = invocation.split_once(' ').unwrap_or((invocation, ""));
            let Ok(command) = commands.find(name) else {
                eprintln!("unknown command /{name}; /help lists them");
                continue;
            };
            match prepare_command(&mut agent, &profiles, command, args, &config) {
                Ok(before) => model_before = before,
                Err(e) => {
                    eprintln!("error: {e}");
                    continue;
                }
            }
            prompt = command.expand(arguments);
        }
        let approver: Option<&mut dyn Approver> = if ask { Some(&mut approver) } else { None };
        runtime.block_on(async {
            let (interrupt, watcher) = interrupt_on_ctrl_c();
            let mut io = TurnIo {
                events: &mut renderer,
                approver,
                interrupt,
            };
            if line == "/compact" && !agent.can_compact() {
                eprintln!(
                    "nothing to compact: a summary would not be shorter than the conversation"
                );
            } else if line == "/compact" {
                match agent.compact(&mut io, true).await {
                    Ok(true) => {}
                    Ok(false) => eprintln!("nothing to compact yet"),
                    Err(e) => io.events.emit(&AgentEvent::Error {
                        message: e.to_string(),
                    }),
                }
            } else {
                // Failures were shown as events; the repl goes on.
                let _ = agent.run_turn(Some(&prompt), &mut io).await;
            }
            watcher.abort();
        });
        if let Some(provider) = model_before.take() {
            agent.replace_provider(provider);
        }
    }
    if let Some(file) = &history {
        let _ = editor.save_history(file);
    }
    // A tool call given up on while stuck in host work does not hold up the exit.
    runtime.shutdown_background();
    Ok(ExitCode::SUCCESS)
}

/// `/agent NAME`: works as that profile from the next turn on (with its model).
fn switch_agent(
    agent: &mut Agent,
    profiles: &AgentProfiles,
    name: &str,
    args: &ChatArgs,
    config: &crate::config::Config,
) -> Result<(), CliError> {
    let profile = profiles
        .find(name)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let provider = provider_for(args, config, profile, agent.working_dir())?;
    agent
        .switch_agent(profile, Some(provider))
        .map_err(|e| CliError::Failed(e.into()))
}

/// Before a custom command's turn: switches to its agent (for good, as /agent does) and
/// asks its model for this turn; returns the provider to go back to after the turn.
fn prepare_command(
    agent: &mut Agent,
    profiles: &AgentProfiles,
    command: &CustomCommand,
    args: &ChatArgs,
    config: &crate::config::Config,
) -> Result<Option<Arc<dyn Provider>>, CliError> {
    if let Some(name) = command
        .agent
        .as_deref()
        .filter(|n| *n != agent.agent_name())
    {
        switch_agent(agent, profiles, name, args, config)?;
        eprintln!("agent {name} (from /{})", command.name);
    }
    let Some(model) = &command.model else {
        return Ok(None);
    };
    let profile = profiles
        .find(agent.agent_name())
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let mut with_model = args.clone();
    with_model.model = Some(model.clone());
    let provider = provider_for(&with_model, config, profile, agent.working_dir())?;
    Ok(Some(agent.replace_provider(provider)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_turns_show_prompts_answers_and_calls() {
        let call = crate::message::ToolCall {
            id: "c1".into(),
            name: "read".into(),
            arguments: r#"{"path":"a.rs"}"#.into(),
        };
        let messages = vec![
            Message::system("you are conch"),
            Message::User {
                content: "first".into(),
            },
            Message::Assistant {
                content: Some("one".into()),
                reasoning_content: None,
                tool_calls: Vec::new(),
            },
            Message::User {
                content: "second".into(),
            },
            Message::Assistant {
                content: None,
                reasoning_content: None,
                tool_calls: vec![call],
            },
            Message::Tool {
                tool_call_id: "c1".into(),
                content: "fn main() {}".into(),
            },
            Message::Assistant {
                content: Some("it is empty".into()),
                reasoning_content: None,
                tool_calls: Vec::new(),
            },
        ];
        assert_eq!(
            last_turns(&messages, 1),
            "… 1 earlier turn\n> second\n  → read {\"path\":\"a.rs\"}\n  it is empty\n"
        );
        assert!(last_turns(&messages, 3).starts_with("> first\n  one\n"));
        assert_eq!(last_turns(&messages[..1], 3), "");
    }
}
