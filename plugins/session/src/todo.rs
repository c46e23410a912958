//! The todo list: its items, the checks a new list must pass, and its text form.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Todo {
    /// A short stable id, e.g. "1"
    #[schemars(length(min = 1))]
    pub id: String,
    /// What to do, in one line
    #[schemars(length(min = 1))]
    pub content: String,
    pub status: Status,
    /// Default medium
    #[serde(default)]
    pub priority: Priority,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    InProgress,
    Completed,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    High,
    #[default]
    Medium,
    Low,
}

/// A list must have unique ids and one-line contents.
pub fn check(todos: &[Todo]) -> Result<(), String> {
    for (index, todo) in todos.iter().enumerate() {
        if todos[..index].iter().any(|other| other.id == todo.id) {
            return Err(format!(
                "todo id `{}` is used twice; give each item its own id",
                todo.id
            ));
        }
        if todo.content.trim().is_empty() {
            return Err(format!("todo `{}` has no content", todo.id));
        }
    }
    Ok(())
}

/// One line per item: `[x] 1 (high) content`, then a count.
pub fn render(todos: &[Todo]) -> String {
    let mut out = String::new();
    for todo in todos {
        let mark = match todo.status {
            Status::Pending => "[ ]",
            Status::InProgress => "[~]",
            Status::Completed => "[x]",
        };
        let priority = match todo.priority {
            Priority::High => " (high)",
            Priority::Medium => "",
            Priority::Low => " (low)",
        };
        out.push_str(&format!(
            "{mark} {}{priority} {}\n",
            todo.id,
            todo.content.lines().next().unwrap_or("")
        ));
    }
    let done = todos
        .iter()
        .filter(|t| t.status == Status::Completed)
        .count();
    out.push_str(&format!("{done} of {} done", todos.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn todo(id: &str, status: Status) -> Todo {
        Todo {
            id: id.into(),
            content: format!("task {id}"),
            status,
            priority: Priority::default(),
        }
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let err = check(&[todo("1", Status::Pending), todo("1", Status::Completed)]).unwrap_err();
        assert!(err.contains("used twice"), "{err}");
    }

    #[test]
    fn the_list_renders_with_marks_and_a_count() {
        let mut first = todo("1", Status::Completed);
        first.priority = Priority::High;
        let text = render(&[
            first,
            todo("2", Status::InProgress),
            todo("3", Status::Pending),
        ]);
        assert_eq!(
            text,
            "[x] 1 (high) task 1\n[~] 2 task 2\n[ ] 3 task 3\n1 of 3 done"
        );
    }
}
