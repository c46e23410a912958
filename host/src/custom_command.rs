//! Custom commands: Markdown prompt templates the user runs by name, `/NAME args` in
//! the repl or `conch run --command NAME args`.
//!
//! They live in `.conch/commands/NAME.md` of the project (the nearest such directory
//! from the working directory up to the git root, like conch.toml) and in `commands/`
//! of the user config dir; a project command replaces a user one of the same name. A
//! file may start with front matter between `---` lines: `description`, `agent` (the
//! agent profile to run it as) and `model`. In the body, `$ARGUMENTS` becomes the
//! arguments as given and `$1`, `$2`… the words of them; a body without placeholders
//! gets the arguments appended after a blank line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The directory of project commands, under a project directory.
const PROJECT_DIR: &str = ".conch/commands";
/// The directory of user commands, under the user config dir.
const USER_DIR: &str = "commands";
/// The front matter keys a command file may set.
const KEYS: &str = "description, agent, model";

/// One command, as read from its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomCommand {
    pub name: String,
    pub description: Option<String>,
    /// The agent profile to run it as.
    pub agent: Option<String>,
    pub model: Option<String>,
    /// The template, front matter removed.
    pub body: String,
    pub path: PathBuf,
}

/// Why commands cannot be read or one cannot be found. Each names the file to fix.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {why}", path.display())]
    Invalid { path: PathBuf, why: String },
    #[error("there is no command `{name}`; {known}")]
    Unknown { name: String, known: String },
}

/// The commands a run can use, by name.
#[derive(Debug, Clone, Default)]
pub struct CustomCommands {
    commands: BTreeMap<String, CustomCommand>,
}

impl CustomCommands {
    /// The user's commands (from `user_dir`, the config dir) with the project's (found
    /// from `cwd` upward) over them.
    pub fn load(cwd: &Path, user_dir: Option<&Path>) -> Result<Self, CommandError> {
        let mut commands = BTreeMap::new();
        let dirs = user_dir
            .map(|dir| dir.join(USER_DIR))
            .into_iter()
            .chain(project_dir(cwd));
        for dir in dirs {
            for command in read_dir(&dir)? {
                commands.insert(command.name.clone(), command);
            }
        }
        Ok(CustomCommands { commands })
    }

    /// The command `name`, or an error listing the known ones.
    pub fn find(&self, name: &str) -> Result<&CustomCommand, CommandError> {
        self.commands
            .get(name)
            .ok_or_else(|| CommandError::Unknown {
                name: name.to_string(),
                known: if self.commands.is_empty() {
                    format!("there are none yet: write one as {PROJECT_DIR}/NAME.md")
                } else {
                    format!(
                        "known commands: {}",
                        self.commands.keys().cloned().collect::<Vec<_>>().join(", ")
                    )
                },
            })
    }

    pub fn iter(&self) -> impl Iterator<Item = &CustomCommand> {
        self.commands.values()
    }
}

impl CustomCommand {
    /// The prompt for `arguments`: placeholders filled, or the arguments appended.
    pub fn expand(&self, arguments: &str) -> String {
        let arguments = arguments.trim();
        let words: Vec<&str> = arguments.split_whitespace().collect();
        let mut out = String::with_capacity(self.body.len() + arguments.len());
        let mut placeholders = false;
        let mut rest = self.body.as_str();
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let digits = after.chars().take_while(char::is_ascii_digit).count();
            if let Some(tail) = after.strip_prefix("ARGUMENTS") {
                out.push_str(arguments);
                rest = tail;
                placeholders = true;
            } else if let Some(n) = after[..digits].parse::<usize>().ok().filter(|n| *n > 0) {
                out.push_str(words.get(n - 1).copied().unwrap_or(""));
                rest = &after[digits..];
                placeholders = true;
            } else {
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
        if !placeholders && !arguments.is_empty() {
            out = format!("{}\n\n{arguments}", out.trim_end());
        }
        out
    }
}

/// The nearest `.conch/commands` from `cwd` upward, not looking above the git root.
fn project_dir(cwd: &Path) -> Option<PathBuf> {
    for dir in cwd.ancestors() {
        let candidate = dir.join(PROJECT_DIR);
        if candidate.is_dir() {
            return Some(candidate);
        }
        if dir.join(".git").exists() {
            break;
        }
    }
    None
}

/// Every `NAME.md` in `dir` (none if it does not exist).
fn read_dir(dir: &Path) -> Result<Vec<CustomCommand>, CommandError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CommandError::Read {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut commands = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".md"))
            .filter(|n| valid_name(n))
        else {
            continue;
        };
        let text = crate::workspace::read_regular(&path)
            .and_then(|bytes| {
                String::from_utf8(bytes).map_err(|e| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
                })
            })
            .map_err(|source| CommandError::Read {
                path: path.clone(),
                source,
            })?;
        commands.push(parse(name, &text, &path)?);
    }
    Ok(commands)
}

/// Names are what can follow `/` in the repl: letters, digits, `-` and `_`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A command file: optional front matter, then the template. The front matter is read
/// strictly: any line it cannot read, or an unknown key, is an error naming the line.
fn parse(name: &str, text: &str, path: &Path) -> Result<CustomCommand, CommandError> {
    let invalid = |why: String| CommandError::Invalid {
        path: path.to_path_buf(),
        why,
    };
    let read = crate::front_matter::read(text);
    if let Some(problem) = read.problems.into_iter().next() {
        return Err(invalid(problem));
    }
    let mut command = CustomCommand {
        name: name.to_string(),
        description: None,
        agent: None,
        model: None,
        body: read.body.to_string(),
        path: path.to_path_buf(),
    };
    for field in read.fields {
        match field.key {
            "description" => command.description = Some(field.value),
            "agent" => command.agent = Some(field.value),
            "model" => command.model = Some(field.value),
            other => {
                return Err(invalid(format!(
                    "line {}: unknown front matter key `{other}`; known keys: {KEYS}",
                    field.line
                )));
            }
        }
    }
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(text: &str) -> Result<CustomCommand, CommandError> {
        parse("c", text, Path::new("/p/.conch/commands/c.md"))
    }

    #[test]
    fn front_matter_is_read_and_the_body_expanded() {
        let c = command(
            "---\ndescription: \"Review a file\"\nagent: plan\n---\nReview $1, then $2 ($ARGUMENTS). $0 $x $",
        )
        .unwrap();
        assert_eq!(c.description.as_deref(), Some("Review a file"));
        assert_eq!(c.agent.as_deref(), Some("plan"));
        assert_eq!(
            c.expand(" a.rs  b.rs "),
            "Review a.rs, then b.rs (a.rs  b.rs). $0 $x $"
        );
        assert_eq!(c.expand("one"), "Review one, then  (one). $0 $x $");
    }

    #[test]
    fn a_body_without_placeholders_gets_the_arguments_appended() {
        let c = command("Fix the tests.\n").unwrap();
        assert_eq!(c.expand("in core"), "Fix the tests.\n\nin core");
        assert_eq!(c.expand(""), "Fix the tests.\n");
    }

    #[test]
    fn bad_front_matter_names_the_file_and_the_fix() {
        let err = command("---\nmodle: x\n---\nbody").unwrap_err().to_string();
        assert!(err.contains("/p/.conch/commands/c.md"), "{err}");
        assert!(err.contains("unknown front matter key `modle`"), "{err}");
        let err = command("---\ndescription: x\n").unwrap_err().to_string();
        assert!(err.contains("no closing `---`"), "{err}");
    }
}
