//! Pattern rules: `{ tool, pattern, decision }`, matched on a tool's key argument with
//! a small wildcard language (`*` any run of characters, `?` exactly one); on commands,
//! matched per simple command of the parsed line ([`CommandSubject`]).
use std::fmt;

use serde::Deserialize;

use super::key::PermissionKey;
use super::shell::{CommandLine, SimpleCommand};

/// What the gate does with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Ask,
    Deny,
}

impl Decision {
    /// How much it holds back: allow < ask < deny.
    pub fn strictness(self) -> u8 {
        match self {
            Decision::Allow => 0,
            Decision::Ask => 1,
            Decision::Deny => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Ask => "ask",
            Decision::Deny => "deny",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule: calls of `tool` (a tool name or a permission key) whose key argument
/// matches `pattern` get `decision`. Among all rules the last that matches wins.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionRule {
    pub tool: String,
    pub pattern: String,
    pub decision: Decision,
}

impl PermissionRule {
    pub fn new(tool: &str, pattern: &str, decision: Decision) -> Self {
        PermissionRule {
            tool: tool.to_string(),
            pattern: pattern.to_string(),
            decision,
        }
    }

    /// Whether this rule is about calls of `tool` (with permission key `permission`).
    pub fn is_for(&self, tool: &str, permission: &PermissionKey) -> bool {
        self.tool == tool || self.tool == permission.as_str()
    }

    /// Whether this rule applies to a call of `tool` (with permission key `permission`)
    /// whose key argument is `key`, matched as text. A call without a key argument is
    /// matched only by the pattern `*`, so a path rule never catches a tool that takes no
    /// path. Commands (permission `bash`) are matched per simple command instead, with
    /// [`PermissionRule::matches_command`].
    pub fn matches(&self, tool: &str, permission: &PermissionKey, key: Option<&str>) -> bool {
        self.is_for(tool, permission) && self.pattern_matches(key)
    }

    /// Whether the pattern matches a key argument as text (`None`: only `*` does).
    pub fn pattern_matches(&self, key: Option<&str>) -> bool {
        match key {
            Some(key) => wildcard_match(&self.pattern, key),
            None => self.pattern == "*",
        }
    }

    /// Whether this rule (already known to be for the tool) applies to one part of a
    /// parsed command line. The pattern `*` applies to every part. Otherwise an allow
    /// rule applies only to a simple command of a line that an allow rule can cover,
    /// compared as written; a deny or ask rule catches a program by name wherever it
    /// is, compared with the command as written and with its program reduced to its
    /// name (`/bin/rm f1` is `rm f1`), and catches code the line hides, since that code
    /// could be anything.
    pub fn matches_command(&self, subject: &CommandSubject<'_>) -> bool {
        if self.pattern == "*" {
            return true;
        }
        let pattern = self.pattern.as_str();
        match (self.decision, subject) {
            (Decision::Allow, CommandSubject::Command { command, coverable }) => {
                *coverable && wildcard_match(pattern, &command.text())
            }
            (Decision::Allow, CommandSubject::Line { text, coverable }) => {
                *coverable && wildcard_match(pattern, text)
            }
            (Decision::Allow, CommandSubject::Hidden) => false,
            (Decision::Ask | Decision::Deny, CommandSubject::Command { command, .. }) => {
                catches(pattern, command)
            }
            (Decision::Ask | Decision::Deny, CommandSubject::Line { text, .. }) => {
                wildcard_match(pattern, text)
            }
            (Decision::Ask | Decision::Deny, CommandSubject::Hidden) => true,
        }
    }
}

/// One part of a command line that rules on `bash` decide on; the line's decision is the
/// strictest of its parts'.
#[derive(Debug, Clone, Copy)]
pub enum CommandSubject<'a> {
    /// A simple command; `coverable`: the line has no construct that keeps allow rules
    /// (other than `*`) from applying.
    Command {
        command: &'a SimpleCommand,
        coverable: bool,
    },
    /// A line without any simple command (`x=1`, an empty line), as text.
    Line { text: &'a str, coverable: bool },
    /// Code the line may run that none of its simple commands shows.
    Hidden,
}

impl<'a> CommandSubject<'a> {
    /// The parts of `line` (parsed from `text`).
    pub fn of(line: &'a CommandLine, text: &'a str) -> Vec<CommandSubject<'a>> {
        let coverable = line.constructs.is_empty();
        let mut subjects: Vec<CommandSubject<'a>> = line
            .commands
            .iter()
            .map(|command| CommandSubject::Command { command, coverable })
            .collect();
        if line.hides_code() {
            subjects.push(CommandSubject::Hidden);
        }
        if line.commands.is_empty() {
            subjects.push(CommandSubject::Line {
                text: text.trim(),
                coverable,
            });
        }
        subjects
    }
}

/// Whether a denying (or asking) `pattern` catches `command`: as written, by program
/// name, and, when arguments are added at run time (`xargs rm`), with some added.
fn catches(pattern: &str, command: &SimpleCommand) -> bool {
    let texts = [command.text(), command.words.join(" "), command.by_name()];
    texts.iter().any(|text| {
        wildcard_match(pattern, text)
            || (command.appends_args && wildcard_match(pattern, &format!("{text} ARGUMENTS")))
    })
}

impl fmt::Display for PermissionRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tool = {:?} pattern = {:?} decision = {:?}",
            self.tool,
            self.pattern,
            self.decision.as_str()
        )
    }
}

/// Whether `text` matches `pattern` as a whole: `*` matches any run of characters
/// (including `/` and none at all), `?` exactly one character, anything else itself.
///
/// Greedy with one backtrack point (the last `*`), so it is linear-ish and never
/// exponential, whatever the pattern.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it is currently made to cover up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_any_run_including_slashes_and_nothing() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("*", "a/b/c"));
        assert!(wildcard_match("secret/*", "secret/x"));
        assert!(wildcard_match("secret/*", "secret/a/b"));
        assert!(wildcard_match("secret/*", "secret/"));
        assert!(!wildcard_match("secret/*", "secrets/x"));
        assert!(!wildcard_match("secret/*", "src/secret/x"));
        assert!(wildcard_match("*.rs", "src/main.rs"));
        assert!(!wildcard_match("*.rs", "src/main.rsx"));
        assert!(wildcard_match("*/.env", "a/b/.env"));
        assert!(wildcard_match("a*b*c", "aXXbYYbc"));
        assert!(!wildcard_match("a*b*c", "aXXbYYb"));
    }

    #[test]
    fn question_mark_matches_exactly_one_character() {
        assert!(wildcard_match("file?.txt", "file1.txt"));
        assert!(wildcard_match("file?.txt", "fileé.txt"));
        assert!(!wildcard_match("file?.txt", "file.txt"));
        assert!(!wildcard_match("file?.txt", "file12.txt"));
    }

    #[test]
    fn command_prefixes_match_with_a_trailing_star() {
        assert!(wildcard_match("git status*", "git status"));
        assert!(wildcard_match("git status*", "git status --short"));
        assert!(!wildcard_match("git status*", "git stash"));
        assert!(!wildcard_match("git status*", "sudo git status"));
    }

    #[test]
    fn without_wildcards_the_whole_text_must_be_equal() {
        assert!(wildcard_match("Cargo.toml", "Cargo.toml"));
        assert!(!wildcard_match("Cargo.toml", "Cargo.tom"));
        assert!(!wildcard_match("Cargo.toml", "x/Cargo.toml"));
        assert!(wildcard_match("", ""));
        assert!(!wildcard_match("", "x"));
    }

    #[test]
    fn many_stars_do_not_blow_up() {
        let text = "a".repeat(5000);
        assert!(!wildcard_match(&format!("{}b", "*a".repeat(50)), &text));
    }

    #[test]
    fn rule_matches_by_tool_name_or_permission_key() {
        let by_key = PermissionRule::new("edit", "src/*", Decision::Allow);
        assert!(by_key.matches("write", &PermissionKey::EDIT, Some("src/lib.rs")));
        assert!(!by_key.matches("write", &PermissionKey::EDIT, Some("docs/x.md")));
        assert!(!by_key.matches("read", &PermissionKey::READ, Some("src/lib.rs")));
        let by_name = PermissionRule::new("write", "*", Decision::Deny);
        assert!(by_name.matches("write", &PermissionKey::EDIT, Some("anything")));
        assert!(!by_name.matches("patch", &PermissionKey::EDIT, Some("anything")));
    }

    /// Whether `rule` matches each part of `line` (as [`CommandSubject::of`] lists them).
    fn parts(rule: &PermissionRule, line: &str) -> Vec<bool> {
        let parsed = super::super::shell::parse(line);
        CommandSubject::of(&parsed, line)
            .iter()
            .map(|subject| rule.matches_command(subject))
            .collect()
    }

    #[test]
    fn an_allow_rule_matches_plain_simple_commands_as_written() {
        let status = PermissionRule::new("bash", "git status*", Decision::Allow);
        assert_eq!(parts(&status, "git status --short"), [true]);
        assert_eq!(parts(&status, "git   status"), [true]);
        assert_eq!(parts(&status, "/usr/bin/git status"), [false]);
        assert_eq!(parts(&status, "git status; rm -rf ~"), [true, false]);
        // With a construct in the line, no part is allowed, and hidden code is a part.
        assert_eq!(parts(&status, "git status $(rm -rf ~)"), [false, false]);
        assert_eq!(
            parts(&status, "git status ${Y:=$'\\x24'(touch P)}${Y@P}"),
            [false, false]
        );
        let everything = PermissionRule::new("bash", "*", Decision::Allow);
        assert_eq!(parts(&everything, "git status ${Y@P}"), [true, true]);
    }

    #[test]
    fn a_deny_rule_matches_a_program_by_name_and_any_hidden_code() {
        let rm = PermissionRule::new("bash", "rm *", Decision::Deny);
        assert_eq!(parts(&rm, "/bin/rm f1"), [true]);
        assert_eq!(parts(&rm, "FOO=1 rm f1"), [true]);
        assert_eq!(parts(&rm, "ls | xargs rm"), [false, false, true]);
        assert_eq!(parts(&rm, "echo rm -rf is dangerous"), [false]);
        assert_eq!(parts(&rm, "$X f1"), [false, true]);
    }

    #[test]
    fn paths_of_other_tools_are_matched_as_text() {
        let secret = PermissionRule::new("read", "a;b", Decision::Deny);
        assert!(secret.matches("read", &PermissionKey::READ, Some("a;b")));
        assert!(!secret.matches("read", &PermissionKey::READ, Some("a")));
    }

    #[test]
    fn a_call_without_key_argument_is_matched_only_by_star() {
        let star = PermissionRule::new("bash", "*", Decision::Deny);
        let prefix = PermissionRule::new("bash", "git*", Decision::Allow);
        assert!(star.matches("bash", &PermissionKey::BASH, None));
        assert!(!prefix.matches("bash", &PermissionKey::BASH, None));
    }
}
