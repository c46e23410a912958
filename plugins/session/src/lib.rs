//! The session plugin: tools that work on the conversation rather than the workspace.
//! `todowrite`/`todoread` keep a task list in the session's state (the host persists it
//! in the session file and shows it when it changes); `question` asks the user through
//! the host, which answers with an error when no one is there.

mod todo;

use conch_plugin::bindings::conch::tool::interact::{self, Question};
use conch_plugin::bindings::conch::tool::state;
use conch_plugin::{CallContext, Tool, ToolError, ToolOutput};
use schemars::JsonSchema;
use serde::Deserialize;

use todo::Todo;

/// The state key the list is kept under (the host's UI knows it).
const TODOS_KEY: &str = "todos";

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WriteInput {
    #[schemars(length(max = 100))]
    todos: Vec<Todo>,
}

/// The `todowrite` tool.
struct TodoWrite;

impl Tool for TodoWrite {
    const NAME: &'static str = "todowrite";
    const DESCRIPTION: &'static str = "Replace the session's todo list with this one (send \
        every item, changed or not). Use it for work with several steps: write the plan first, \
        mark one item in_progress when you start it and completed as soon as it is done. The \
        user sees the list; it is kept with the session.";
    const PERMISSION: &'static str = "todo";
    type Input = WriteInput;

    fn run(input: WriteInput, _ctx: &CallContext) -> Result<ToolOutput, ToolError> {
        todo::check(&input.todos).map_err(ToolError::InvalidInput)?;
        let json = serde_json::to_string(&input.todos)
            .map_err(|e| ToolError::Failed(format!("cannot encode the list: {e}")))?;
        state::set(TODOS_KEY, Some(&json));
        Ok(todo_output(&input.todos, "Todo list updated."))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReadInput {}

/// The `todoread` tool.
struct TodoRead;

impl Tool for TodoRead {
    const NAME: &'static str = "todoread";
    const DESCRIPTION: &'static str = "Read the session's todo list: each item's id, \
        status, priority and content.";
    const PERMISSION: &'static str = "todo";
    type Input = ReadInput;

    fn run(_input: ReadInput, _ctx: &CallContext) -> Result<ToolOutput, ToolError> {
        let todos = match state::get(TODOS_KEY) {
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                ToolError::Failed(format!("the stored todo list is not readable: {e}"))
            })?,
            None => Vec::new(),
        };
        Ok(todo_output(&todos, "The todo list:"))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct QuestionInput {
    /// The question, short and specific
    #[schemars(length(min = 1))]
    question: String,
    /// Options to pick from (omit for a free-text answer)
    #[serde(default)]
    #[schemars(length(max = 20), inner(length(min = 1)))]
    choices: Vec<String>,
    /// With choices: whether the user may answer something else (default false)
    #[serde(default)]
    allow_other: bool,
}

/// The `question` tool.
struct Ask;

impl Tool for Ask {
    const NAME: &'static str = "question";
    const DESCRIPTION: &'static str = "Ask the user a question and wait for the answer: \
        free text, or one of the choices you offer. Only when you cannot go on without the \
        user's decision; when no one can answer (a headless run) the result says so and you \
        proceed on your own judgement.";
    const PERMISSION: &'static str = "question";
    const KEY_ARG: Option<&'static str> = Some("question");
    type Input = QuestionInput;

    fn run(input: QuestionInput, _ctx: &CallContext) -> Result<ToolOutput, ToolError> {
        let answer = interact::ask(&Question {
            prompt: input.question,
            choices: input.choices,
            allow_other: input.allow_other,
        })
        .map_err(ToolError::Failed)?;
        Ok(ToolOutput::text(format!("The user answered: {answer}")))
    }
}

conch_plugin::plugin!(TodoWrite, TodoRead, Ask);

/// The list for the model, with the items as metadata for the UI.
fn todo_output(todos: &[Todo], heading: &str) -> ToolOutput {
    let text = if todos.is_empty() {
        "The todo list is empty.".to_string()
    } else {
        format!("{heading}\n{}", todo::render(todos))
    };
    ToolOutput::text(text).with_metadata(&serde_json::json!({ "todos": todos }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_tools_are_derived_from_the_code() {
        conch_plugin::manifest::check_manifest(env!("CARGO_MANIFEST_DIR"), ConchPlugin::specs());
    }
}
