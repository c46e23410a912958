//! `conch repl`: read a line, run a turn, repeat. Ctrl-C during a turn stops only that
//! turn; Ctrl-C at the prompt clears the line; Ctrl-D or /exit leaves.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use super::chat::{
    Prepared, Questions, custom_commands, history_file, interrupt_on_ctrl_c, load_images, prepare,
    provider_for, runtime,
};
use super::line_editor::{LineEditor, Typed};
use super::{ChatArgs, CliError};
use crate::agent::{Agent, AgentEvent, AgentProfiles, TurnIo};
use crate::custom_command::CustomCommand;
use crate::message::Message;
use crate::permission::Approver;
use crate::provider::Provider;
use crate::session::Entry;
use crate::ui::{Tally, TerminalApprover, TextRenderer};

const HELP: &str = "\
Type a task and press Enter. Commands:
  /help      this help
  /compact   summarise older turns now to free context
  /session   the session id
  /status    provider, model, session, sandbox, agent, tokens
  /cost      the session's tokens (and cost, with [pricing.\"MODEL\"] in conch.toml)
  /model     the model; /model NAME switches for the rest of the session
  /new       start a new session
  /clear     clear the screen (the session goes on)
  /undo      put back the files the last change wrote
  /agent     list the agent profiles; /agent NAME switches to one
  /image     /image FILE sends a picture with your next message (a model that takes images)
  /exit      leave (also Ctrl-D)
Shift-Enter (in a terminal that reports it), Alt-Enter, or Enter after a \\ at the
end starts a new line; Enter sends.
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
            Message::User { content, images } => {
                out.push_str(&format!("> {}\n", crate::ui::one_line(content, 100)));
                for image in images {
                    out.push_str(&format!("  {}\n", image.notice()));
                }
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

/// What the repl keeps between lines beside the agent: the arguments as they now apply
/// (with a `/model` choice), the provider and model asked, and the token tally.
struct Session {
    agent: Agent,
    args: ChatArgs,
    provider: String,
    model: String,
    tally: Tally<TextRenderer>,
}

/// Prints the line that opens a session (and, for a continued one, its last turns).
fn announce(start: &AgentEvent) {
    let AgentEvent::SessionStart {
        session_id,
        model,
        provider,
        resumed,
        agent: agent_name,
        ..
    } = start
    else {
        return;
    };
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

/// The provider's and model's names a session starts with.
fn provider_and_model(start: &AgentEvent) -> (String, String) {
    match start {
        AgentEvent::SessionStart {
            provider, model, ..
        } => (provider.clone(), model.clone()),
        _ => (String::new(), String::new()),
    }
}

/// Runs the repl until the user leaves, starting with `first` when given.
pub fn run(cli_args: &ChatArgs, first: Option<String>) -> Result<ExitCode, CliError> {
    // `--image` goes with the first prompt, typed or given.
    let mut images = load_images(&cli_args.images)?;
    let ask = std::io::stdin().is_terminal();
    let Prepared {
        agent,
        start,
        profiles,
        config,
        args,
    } = prepare(cli_args, Questions::all(ask))?;
    let commands = custom_commands(&args)?;
    let terminal = std::io::stderr().is_terminal();
    let (provider, model) = provider_and_model(&start);
    let renderer = TextRenderer::new(crate::ui::use_colour(terminal), terminal);
    let mut session = Session {
        tally: Tally::new(renderer, config.pricing(&model)),
        agent,
        // Once checked, the images are the first prompt's, not every new session's.
        args: ChatArgs {
            images: Vec::new(),
            ..args
        },
        provider,
        model,
    };
    announce(&start);
    let history = history_file();
    let mut editor = LineEditor::open(history.as_deref(), crate::ui::use_colour(terminal));
    let runtime = runtime()?;
    let mut approver = TerminalApprover;
    if ask {
        session
            .agent
            .set_asker(Some(std::sync::Arc::new(crate::ui::TerminalAsker)));
    }
    let mut first = first;
    loop {
        let typed = match first.take() {
            Some(line) => Typed::Line(line),
            None => editor
                .read()
                .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot read input: {e}")))?,
        };
        let line = match typed {
            Typed::Line(line) => line,
            Typed::Cleared => continue,
            Typed::End => break,
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim();
        let agent = &mut session.agent;
        match word {
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
            "/status" => {
                eprint!("{}", status(&session, &config));
                continue;
            }
            "/cost" => {
                eprintln!("{}", cost(&session.tally, &session.model, &config));
                continue;
            }
            "/clear" => {
                if let Err(e) = editor.clear_screen() {
                    eprintln!("error: cannot clear the screen: {e}");
                }
                continue;
            }
            "/new" => {
                let fresh = ChatArgs {
                    session: None,
                    continue_latest: false,
                    model: cli_args.model.clone(),
                    ..session.args.clone()
                };
                // The project's config was settled when the repl started; its
                // language servers are asked about at their first use, as then.
                let questions = Questions {
                    project_config: false,
                    language_servers: ask,
                };
                match prepare(&fresh, questions) {
                    Ok(prepared) => {
                        session.agent = prepared.agent;
                        if ask {
                            session
                                .agent
                                .set_asker(Some(std::sync::Arc::new(crate::ui::TerminalAsker)));
                        }
                        (session.provider, session.model) = provider_and_model(&prepared.start);
                        session.args = prepared.args;
                        session.tally.reset_session();
                        session.tally.set_pricing(config.pricing(&session.model));
                        eprintln!("new session {}", session.agent.session_id());
                    }
                    Err(e) => eprintln!("error: {e}"),
                }
                continue;
            }
            "/model" if rest.is_empty() => {
                eprintln!(
                    "model {} via {}; /model NAME switches",
                    session.model, session.provider
                );
                continue;
            }
            "/model" => {
                match switch_model(&mut session, &profiles, &config, rest) {
                    Ok(()) => eprintln!("model {rest} from now on in this session"),
                    Err(e) => eprintln!("error: {e}"),
                }
                continue;
            }
            "/image" => {
                match image_for_next_prompt(&session, rest) {
                    Ok(image) => {
                        eprintln!("{} goes with your next message", image.notice());
                        images.push(image);
                    }
                    Err(e) => eprintln!("error: {e}"),
                }
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
        if word == "/agent" {
            let name = rest;
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
            // A profile brings its own model: a `/model` choice ends here, as on resume.
            session.args.model = cli_args.model.clone();
            match switch_agent(&mut session, &profiles, name, &config) {
                Ok(()) => eprintln!("agent {name} · model {}", session.model),
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
            match prepare_command(&mut session, &profiles, command, &config) {
                Ok(before) => model_before = before,
                Err(e) => {
                    eprintln!("error: {e}");
                    continue;
                }
            }
            prompt = command.expand(arguments);
        }
        let approver: Option<&mut dyn Approver> = if ask { Some(&mut approver) } else { None };
        let agent = &mut session.agent;
        let tally = &mut session.tally;
        let turn_images = if line == "/compact" {
            Vec::new()
        } else {
            std::mem::take(&mut images)
        };
        runtime.block_on(async {
            let (interrupt, watcher) = interrupt_on_ctrl_c();
            let mut io = TurnIo {
                events: tally,
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
                let _ = agent
                    .run_turn_with_images(Some(&prompt), turn_images, &mut io)
                    .await;
            }
            watcher.abort();
        });
        if let Some((provider, model)) = model_before.take() {
            session.agent.replace_provider(provider);
            session.model = model;
            session.tally.set_pricing(config.pricing(&session.model));
        }
    }
    if let Err(e) = editor.close() {
        eprintln!("warning: cannot save the prompt history: {e}");
    }
    // A tool call given up on while stuck in host work does not hold up the exit.
    runtime.shutdown_background();
    Ok(ExitCode::SUCCESS)
}

/// `/image FILE`: the image, if the model takes images; a relative path is the working
/// directory's.
fn image_for_next_prompt(session: &Session, path: &str) -> Result<crate::image::Image, String> {
    if path.is_empty() {
        return Err("say which file: /image FILE".into());
    }
    if !session.agent.accepts_images() {
        return Err(format!(
            "model `{}` of provider `{}` is not known to take images; if it does, set `vision = true` in [providers.{}] in conch.toml",
            session.model, session.provider, session.provider
        ));
    }
    crate::image::Image::load(&session.agent.working_dir().join(path))
}

/// `/status`: where the session stands.
fn status(session: &Session, config: &crate::config::Config) -> String {
    let agent = &session.agent;
    let sandbox = session.args.sandbox.policy(config);
    let network = if sandbox.network { "on" } else { "off" };
    let tokens = crate::ui::totals(&session.tally.session(), session.tally.session_cost());
    format!(
        "session  {}\ncwd      {}\nprovider {}\nmodel    {}\nagent    {}\nsandbox  {} · network {network}\ntokens   {tokens}\n",
        agent.session_id(),
        agent.working_dir().display(),
        session.provider,
        session.model,
        agent.agent_name(),
        sandbox.mode.as_str(),
    )
}

/// `/cost`: the session's tokens so far and, with a price for the model, the cost.
fn cost(tally: &Tally<TextRenderer>, model: &str, config: &crate::config::Config) -> String {
    let mut line = format!(
        "this session: {}",
        crate::ui::totals(&tally.session(), tally.session_cost())
    );
    if config.pricing(model).is_none() {
        line.push_str(&format!(
            "\n(no cost: set [pricing.\"{model}\"] input_per_mtok and output_per_mtok in conch.toml)"
        ));
    } else if tally.session_cost().is_none() {
        line.push_str("\n(no cost: some turns used a model without a price)");
    }
    line
}

/// `/model NAME`: asks NAME from the next turn on, and records it in the session so a
/// continued session keeps it.
fn switch_model(
    session: &mut Session,
    profiles: &AgentProfiles,
    config: &crate::config::Config,
    name: &str,
) -> Result<(), CliError> {
    let profile = profiles
        .find(session.agent.agent_name())
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let mut args = session.args.clone();
    args.model = Some(name.to_string());
    let (provider, model) = provider_for(&args, config, profile, session.agent.working_dir())?;
    session
        .agent
        .record(Entry::Model {
            name: model.clone(),
        })
        .map_err(|e| CliError::Failed(e.into()))?;
    session.agent.replace_provider(provider);
    session.tally.set_pricing(config.pricing(&model));
    session.model = model;
    session.args = args;
    Ok(())
}

/// `/agent NAME`: works as that profile from the next turn on (with its model).
fn switch_agent(
    session: &mut Session,
    profiles: &AgentProfiles,
    name: &str,
    config: &crate::config::Config,
) -> Result<(), CliError> {
    let profile = profiles
        .find(name)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let (provider, model) =
        provider_for(&session.args, config, profile, session.agent.working_dir())?;
    session
        .agent
        .switch_agent(profile, Some(provider))
        .map_err(|e| CliError::Failed(e.into()))?;
    session.tally.set_pricing(config.pricing(&model));
    session.model = model;
    Ok(())
}

/// The provider a custom command's turn replaced, and its model's name.
type ModelBefore = (Arc<dyn Provider>, String);

/// Before a custom command's turn: switches to its agent (for good, as /agent does) and
/// asks its model for this turn; returns the provider and model to go back to after it.
fn prepare_command(
    session: &mut Session,
    profiles: &AgentProfiles,
    command: &CustomCommand,
    config: &crate::config::Config,
) -> Result<Option<ModelBefore>, CliError> {
    if let Some(name) = command
        .agent
        .as_deref()
        .filter(|n| *n != session.agent.agent_name())
    {
        switch_agent(session, profiles, name, config)?;
        eprintln!("agent {name} (from /{})", command.name);
    }
    let Some(model) = &command.model else {
        return Ok(None);
    };
    let profile = profiles
        .find(session.agent.agent_name())
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let mut with_model = session.args.clone();
    with_model.model = Some(model.clone());
    let (provider, model) =
        provider_for(&with_model, config, profile, session.agent.working_dir())?;
    session.tally.set_pricing(config.pricing(&model));
    let before = std::mem::replace(&mut session.model, model);
    Ok(Some((session.agent.replace_provider(provider), before)))
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
            Message::user("first"),
            Message::Assistant {
                content: Some("one".into()),
                reasoning_content: None,
                tool_calls: Vec::new(),
            },
            Message::user("second"),
            Message::Assistant {
                content: None,
                reasoning_content: None,
                tool_calls: vec![call],
            },
            Message::tool_result("c1", "fn main() {}"),
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
