//! `conch init`: a run with a fixed task, asking the agent to write (or bring up to date)
//! the project's AGENTS.md from what it reads of the project. The file is written by the
//! agent's own tools, so the edit goes through the permission gate like any other.

use std::process::ExitCode;

use super::{ChatArgs, CliError, Format};

/// The task `conch init` gives the agent.
pub const INIT_PROMPT: &str = "\
Write AGENTS.md at the root of this project: the guide a coding agent (or a new \
contributor) reads before changing anything here. First look at the project: its \
layout, build files, README, CI configuration, tests and a few central source files. \
Then write a short file (under about 60 lines) with what you found and can confirm: \
what the project is; how to build, test, lint and format it (the exact commands); \
the layout (where things live); conventions of the code that are not obvious; and \
what to check before a change is done. Say nothing you did not see in the project. \
If AGENTS.md already exists, read it and improve it in place, keeping what is still \
true. Write the file with the edit tools, then say in one or two sentences what you \
wrote.";

/// Runs the agent with [`INIT_PROMPT`], printing as `conch run` does.
pub fn run(args: ChatArgs) -> Result<ExitCode, CliError> {
    let output = super::chat::Output {
        format: Format::Text,
        final_only: false,
        last_message: None,
    };
    super::chat::run(Some(INIT_PROMPT.to_string()), None, &output, args)
}
