//! The session plugin: tools that work on the conversation rather than the workspace.
//! `todowrite`/`todoread` keep a task list in the session's state (the host persists it
//! in the session file and shows it when it changes); `question` asks the user through
//! the host, which answers with an error when no one is there.

mod todo;

use conch_plugin::bindings::conch::tool::interact::{self, Question};
use conch_plugin::bindings::conch::tool::state;
use conch_plugin::{CallContext, Guest, ToolError, ToolOutput, parse_input};
use serde::Deserialize;

use todo::Todo;

/// The state key the list is kept under (the host's UI knows it).
const TODOS_KEY: &str = "todos";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteInput {
    todos: Vec<Todo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadInput {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionInput {
    question: String,
    #[serde(default)]
    choices: Vec<String>,
    #[serde(default)]
    allow_other: bool,
}

struct Session;

impl Guest for Session {
    fn invoke(tool: String, input: String, _ctx: CallContext) -> Result<ToolOutput, ToolError> {
        match tool.as_str() {
            "todowrite" => {
                let input: WriteInput = parse_input("todowrite", &input)?;
                todo::check(&input.todos).map_err(ToolError::InvalidInput)?;
                let json = serde_json::to_string(&input.todos)
                    .map_err(|e| ToolError::Failed(format!("cannot encode the list: {e}")))?;
                state::set(TODOS_KEY, Some(&json));
                Ok(todo_output(&input.todos, "Todo list updated."))
            }
            "todoread" => {
                let _: ReadInput = parse_input("todoread", &input)?;
                let todos = match state::get(TODOS_KEY) {
                    Some(json) => serde_json::from_str(&json).map_err(|e| {
                        ToolError::Failed(format!("the stored todo list is not readable: {e}"))
                    })?,
                    None => Vec::new(),
                };
                Ok(todo_output(&todos, "The todo list:"))
            }
            "question" => {
                let input: QuestionInput = parse_input("question", &input)?;
                let answer = interact::ask(&Question {
                    prompt: input.question,
                    choices: input.choices,
                    allow_other: input.allow_other,
                })
                .map_err(ToolError::Failed)?;
                Ok(ToolOutput::text(format!("The user answered: {answer}")))
            }
            other => Err(ToolError::UnknownTool(format!(
                "the session plugin has no tool `{other}`; its tools are todowrite, todoread and question"
            ))),
        }
    }
}

conch_plugin::export_plugin!(Session);

/// The list for the model, with the items as metadata for the UI.
fn todo_output(todos: &[Todo], heading: &str) -> ToolOutput {
    let text = if todos.is_empty() {
        "The todo list is empty.".to_string()
    } else {
        format!("{heading}\n{}", todo::render(todos))
    };
    ToolOutput::text(text).with_metadata(&serde_json::json!({ "todos": todos }))
}
