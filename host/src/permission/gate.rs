//! Decisions: defaults by permission key, then rules (last match wins), then the
//! command-line flags; and what an "ask" becomes when there is or is not someone to ask.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::key::PermissionKey;
use super::rule::{CommandSubject, Decision, PermissionRule};
use super::shell;

/// The decision for a permission key no one configured. Tools that touch only the
/// conversation (its todo list, a question to the user, loading a skill) need no asking.
pub fn builtin_default(permission: &PermissionKey) -> Decision {
    let allowed = [
        PermissionKey::READ,
        PermissionKey::TODO,
        PermissionKey::QUESTION,
        PermissionKey::SKILL,
        PermissionKey::LSP,
    ];
    if allowed.contains(permission) {
        Decision::Allow
    } else {
        Decision::Ask
    }
}

/// What the configuration says: decisions per permission key (over the built-in
/// defaults) and rules, weakest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub defaults: BTreeMap<PermissionKey, Decision>,
    pub rules: Vec<PermissionRule>,
    /// Rules of a project file the user has not trusted: applied apart from the others,
    /// they can only make a decision stricter (an `ask` there never lifts a `deny`).
    pub restrictions: Vec<PermissionRule>,
}

/// The command-line overrides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// Approve everything that would ask (explicit denies stay denied).
    pub yes: bool,
    /// Approve `edit` calls that would ask.
    pub allow_edit: bool,
    /// Deny every `bash` call, whatever the rules say.
    pub no_bash: bool,
}

/// One call as the gate sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub tool: String,
    pub permission: PermissionKey,
    /// The value of the tool's key argument (a path, a command…), if it has one.
    pub key: Option<String>,
}

impl Request {
    /// `read secret/x`, or just `read` without a key argument.
    fn describe(&self) -> String {
        match &self.key {
            Some(key) => format!("`{}` on `{key}`", self.tool),
            None => format!("`{}`", self.tool),
        }
    }
}

/// `path` (relative to `cwd`) resolved lexically and shown relative to `root` with `/`
/// separators, or absolute when it leads out of `root`: a path key as rules see it.
pub fn workspace_path(path: &str, cwd: &Path, root: &Path) -> String {
    let mut resolved = PathBuf::new();
    for component in cwd.join(path).components() {
        match component {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::CurDir => {}
            other => resolved.push(other),
        }
    }
    match resolved.strip_prefix(root) {
        Ok(inside) => inside
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => resolved.to_string_lossy().into_owned(),
    }
}

/// Which tools an agent profile may call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolSet {
    All,
    /// These tools by name.
    Named(std::collections::BTreeSet<String>),
    /// The tools whose permission key is this one (`read` for a read-only agent).
    WithPermission(PermissionKey),
}

impl ToolSet {
    pub fn contains(&self, tool: &str, permission: &PermissionKey) -> bool {
        match self {
            ToolSet::All => true,
            ToolSet::Named(names) => names.contains(tool),
            ToolSet::WithPermission(key) => key == permission,
        }
    }
}

/// What an agent profile changes in the gate: the tools it may call at all, and its
/// own decisions and rules, stronger than the config's (flags still turn its asks into
/// allows, never its denials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRestriction {
    /// The profile's name, for messages.
    pub agent: String,
    pub tools: ToolSet,
    pub policy: Policy,
    /// Said to the model after a denial, e.g. that it is in plan mode.
    pub hint: Option<String>,
}

/// Where a decision came from, so a denial can say what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The default for the permission key (built in, or from the config).
    Default,
    /// A rule from the config.
    Rule(PermissionRule),
    /// A command-line flag, e.g. `--no-bash`.
    Flag(&'static str),
    /// The agent profile in use.
    Agent,
}

/// A decision and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    pub source: Source,
}

/// A person's answer to "may this call run?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// Yes, this call.
    Once,
    /// Yes, and every later call of this tool in this session.
    ForSession,
    /// No, optionally with a message for the model.
    No(Option<String>),
    /// Ctrl-C instead of an answer: the call does not run and the turn stops.
    Interrupted,
}

/// Asks a person whether a call may run.
pub trait Approver {
    /// `question` is e.g. "Allow `write` on `src/main.rs`?".
    fn approve(&mut self, question: &str) -> Approval;
}

/// Who settled a decision, as recorded in the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecidedBy {
    Default,
    Rule,
    Flag,
    /// The person asked.
    User,
    /// An earlier "yes for this session".
    Session,
    /// An ask with no one to ask.
    Headless,
    /// The agent profile in use.
    Agent,
    /// The user pressed Ctrl-C instead of answering.
    Interrupted,
}

impl DecidedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            DecidedBy::Default => "default",
            DecidedBy::Rule => "rule",
            DecidedBy::Flag => "flag",
            DecidedBy::User => "user",
            DecidedBy::Session => "session",
            DecidedBy::Headless => "headless",
            DecidedBy::Agent => "agent",
            DecidedBy::Interrupted => "interrupted",
        }
    }
}

impl From<&Source> for DecidedBy {
    fn from(source: &Source) -> Self {
        match source {
            Source::Default => DecidedBy::Default,
            Source::Rule(_) => DecidedBy::Rule,
            Source::Flag(_) => DecidedBy::Flag,
            Source::Agent => DecidedBy::Agent,
        }
    }
}

/// A call may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    pub by: DecidedBy,
    /// The user allowed this tool for the rest of the session.
    pub remember: bool,
}

/// Why a call may not run; the message is written for the model (and the user).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denied {
    pub message: String,
    pub by: DecidedBy,
}

/// The policy and flags of one run, and the tools the user allowed for the session.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    policy: Policy,
    flags: Flags,
    /// (tool, what of it) the user said yes to for the session.
    session_allowed: std::collections::BTreeSet<(String, SessionScope)>,
    agent: Option<AgentRestriction>,
}

impl Gate {
    pub fn new(policy: Policy, flags: Flags) -> Self {
        Gate {
            policy,
            flags,
            session_allowed: Default::default(),
            agent: None,
        }
    }

    /// The command-line flags it decides with.
    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// Decides as the agent profile `restriction` says from now on (`None`: no profile
    /// restrictions).
    pub fn set_agent(&mut self, restriction: Option<AgentRestriction>) {
        self.agent = restriction;
    }

    /// From now on, calls like `request` that would ask are allowed ("yes for this
    /// session"): any call of the tool, or for commands, see [`session_scope`].
    pub fn allow_for_session(&mut self, request: &Request) {
        self.session_allowed
            .insert((request.tool.clone(), session_scope(request)));
    }

    /// Whether a "yes for this session" covers `request`: for a command, the same
    /// command line, or one of plain simple commands each starting with words the user
    /// said yes to.
    fn allowed_for_session(&self, request: &Request) -> bool {
        let scopes: Vec<&SessionScope> = self
            .session_allowed
            .iter()
            .filter(|(tool, _)| *tool == request.tool)
            .map(|(_, scope)| scope)
            .collect();
        if scopes.contains(&&SessionScope::Any) {
            return true;
        }
        let Some(key) = request.key.as_deref() else {
            return false;
        };
        if scopes.contains(&&SessionScope::Exact(key.trim().to_string())) {
            return true;
        }
        let line = shell::parse(key);
        line.constructs.is_empty()
            && !line.commands.is_empty()
            && line.commands.iter().all(|command| {
                let text = command.text();
                scopes.iter().any(|scope| {
                    matches!(scope, SessionScope::Prefix(prefix)
                        if super::rule::wildcard_match(&format!("{prefix}*"), &text))
                })
            })
    }

    /// The decision for a request, before anyone is asked.
    ///
    /// A command (permission `bash`) is decided per part of its parsed command line
    /// ([`CommandSubject`]), each by the usual layers, and gets the strictest of those
    /// decisions: one denied command denies the line, and an allow rule allows it only
    /// when it allows every command in it.
    pub fn decide(&self, request: &Request) -> Verdict {
        if let Some(agent) = &self.agent
            && !agent.tools.contains(&request.tool, &request.permission)
        {
            return Verdict {
                decision: Decision::Deny,
                source: Source::Agent,
            };
        }
        let verdict = match (&request.permission, request.key.as_deref()) {
            (permission, Some(text)) if *permission == PermissionKey::BASH => {
                let line = shell::parse(text);
                CommandSubject::of(&line, text)
                    .iter()
                    .map(|subject| self.layered(request, |rule| rule.matches_command(subject)))
                    .reduce(|strictest, verdict| {
                        if verdict.decision.strictness() > strictest.decision.strictness() {
                            verdict
                        } else {
                            strictest
                        }
                    })
                    .unwrap_or_else(|| self.layered(request, |_| false))
            }
            (_, key) => self.layered(request, |rule| rule.pattern_matches(key)),
        };
        if verdict.decision == Decision::Deny && verdict.source == Source::Agent {
            return verdict;
        }
        if self.flags.no_bash && request.permission == PermissionKey::BASH {
            return Verdict {
                decision: Decision::Deny,
                source: Source::Flag("--no-bash"),
            };
        }
        if verdict.decision == Decision::Ask {
            if self.flags.allow_edit && request.permission == PermissionKey::EDIT {
                return Verdict {
                    decision: Decision::Allow,
                    source: Source::Flag("--allow-edit"),
                };
            }
            if self.flags.yes {
                return Verdict {
                    decision: Decision::Allow,
                    source: Source::Flag("--yes"),
                };
            }
        }
        verdict
    }

    /// The decision of the configured default, then the last rule matching (by
    /// `matches`, among the rules for this tool), then the agent profile's.
    fn layered(&self, request: &Request, matches: impl Fn(&PermissionRule) -> bool) -> Verdict {
        let for_this = |rule: &&PermissionRule| {
            rule.is_for(&request.tool, &request.permission) && matches(rule)
        };
        let default = self
            .policy
            .defaults
            .get(&request.permission)
            .copied()
            .unwrap_or_else(|| builtin_default(&request.permission));
        let mut verdict = Verdict {
            decision: default,
            source: Source::Default,
        };
        if let Some(rule) = self.policy.rules.iter().rev().find(for_this) {
            verdict = Verdict {
                decision: rule.decision,
                source: Source::Rule(rule.clone()),
            };
        }
        // An untrusted project's rules: applied apart, and only ever stricter.
        let strictest = self
            .policy
            .restrictions
            .iter()
            .filter(for_this)
            .max_by_key(|rule| rule.decision.strictness());
        if let Some(rule) = strictest
            && rule.decision.strictness() > verdict.decision.strictness()
        {
            verdict = Verdict {
                decision: rule.decision,
                source: Source::Rule(rule.clone()),
            };
        }
        if let Some(agent) = &self.agent {
            let by_agent = |decision| Verdict {
                decision,
                source: Source::Agent,
            };
            if let Some(decision) = agent.policy.defaults.get(&request.permission) {
                verdict = by_agent(*decision);
            }
            if let Some(rule) = agent.policy.rules.iter().rev().find(for_this) {
                verdict = by_agent(rule.decision);
            }
        }
        verdict
    }

    /// Whether the call may run: "ask" goes to `approver`, or is a denial without one
    /// (headless: no terminal to ask on). A "yes for this session" is remembered.
    pub fn check(
        &mut self,
        request: &Request,
        approver: Option<&mut (dyn Approver + '_)>,
    ) -> Result<Allowed, Denied> {
        let verdict = self.decide(request);
        let by = DecidedBy::from(&verdict.source);
        match verdict.decision {
            Decision::Allow => Ok(Allowed {
                by,
                remember: false,
            }),
            Decision::Deny => Err(Denied {
                message: self.denied_message(request, &verdict.source),
                by,
            }),
            Decision::Ask if self.allowed_for_session(request) => Ok(Allowed {
                by: DecidedBy::Session,
                remember: false,
            }),
            Decision::Ask => match approver {
                Some(approver) => {
                    let question = format!(
                        "Allow {}?{}",
                        request.describe(),
                        session_scope(request).question()
                    );
                    self.ask(approver, &question, request)
                }
                None => Err(Denied {
                    message: headless_message(request),
                    by: DecidedBy::Headless,
                }),
            },
        }
    }

    /// Whether a tool's staged changes may be written: one request per changed path
    /// (permission `edit`), any denial denies all, and the asks become one question that
    /// shows `preview` (the diff).
    pub fn check_changes(
        &mut self,
        requests: &[Request],
        preview: &str,
        approver: Option<&mut (dyn Approver + '_)>,
    ) -> Result<Allowed, Denied> {
        let mut by = DecidedBy::Default;
        let mut asks = Vec::new();
        for request in requests {
            let verdict = self.decide(request);
            match verdict.decision {
                Decision::Deny => {
                    return Err(Denied {
                        message: self.denied_message(request, &verdict.source),
                        by: DecidedBy::from(&verdict.source),
                    });
                }
                Decision::Ask if self.allowed_for_session(request) => {
                    by = DecidedBy::Session;
                }
                Decision::Ask => asks.push(request),
                Decision::Allow => by = DecidedBy::from(&verdict.source),
            }
        }
        let Some(first) = asks.first() else {
            return Ok(Allowed {
                by,
                remember: false,
            });
        };
        let Some(approver) = approver else {
            return Err(Denied {
                message: headless_message(first),
                by: DecidedBy::Headless,
            });
        };
        let paths: Vec<&str> = asks.iter().filter_map(|r| r.key.as_deref()).collect();
        let question = format!(
            "{preview}Allow `{}` to change {}?",
            first.tool,
            paths.join(", ")
        );
        self.ask(approver, &question, first)
    }

    /// Whether a tool's staged changes (`requests`, one per path, and their `diff`) may be
    /// written: as [`Gate::check_changes`], except that a change to conch's own
    /// configuration in the project (`is_protected`) needs a person every time.
    pub fn check_changeset(
        &mut self,
        requests: &[Request],
        diff: &str,
        is_protected: impl Fn(&str) -> bool,
        approver: Option<&mut (dyn Approver + '_)>,
    ) -> Result<Allowed, Denied> {
        let protected: Vec<&str> = requests
            .iter()
            .filter_map(|r| r.key.as_deref())
            .filter(|path| is_protected(path))
            .collect();
        if protected.is_empty() {
            self.check_changes(requests, diff, approver)
        } else {
            self.check_protected_changes(requests, &protected, diff, approver)
        }
    }

    /// Whether changes that include conch's own configuration in the project may be
    /// written: a denial still denies, and otherwise only a person can allow it, asked
    /// every time; flags, allow rules and "yes for this session" do not cover it.
    fn check_protected_changes(
        &mut self,
        requests: &[Request],
        protected: &[&str],
        preview: &str,
        approver: Option<&mut (dyn Approver + '_)>,
    ) -> Result<Allowed, Denied> {
        for request in requests {
            let verdict = self.decide(request);
            if verdict.decision == Decision::Deny {
                return Err(Denied {
                    message: self.denied_message(request, &verdict.source),
                    by: DecidedBy::from(&verdict.source),
                });
            }
        }
        let tool = requests.first().map_or("", |r| r.tool.as_str());
        let Some(approver) = approver else {
            return Err(Denied {
                message: format!(
                    "denied: `{tool}` would change {}, conch's own configuration in this project; \
                     that needs the user's approval on a terminal every time (--yes, --allow-edit \
                     and rules do not cover it); say what to change there and let the user do it",
                    protected.join(", ")
                ),
                by: DecidedBy::Headless,
            });
        };
        let question = format!(
            "{preview}`{tool}` wants to change {}, conch's own configuration in this project \
             (it can change what conch allows next time). Allow it this once?",
            protected.join(", ")
        );
        match approver.approve(&question) {
            Approval::Interrupted => Err(interrupted()),
            Approval::Once | Approval::ForSession => Ok(Allowed {
                by: DecidedBy::User,
                remember: false,
            }),
            Approval::No(note) => Err(Denied {
                message: match note {
                    Some(note) => format!("denied: the user refused the change and said: {note}"),
                    None => format!(
                        "denied: the user refused the change to {}; do not retry it",
                        protected.join(", ")
                    ),
                },
                by: DecidedBy::User,
            }),
        }
    }

    /// Asks `approver` about `request` and remembers a "yes for this session".
    fn ask(
        &mut self,
        approver: &mut (dyn Approver + '_),
        question: &str,
        request: &Request,
    ) -> Result<Allowed, Denied> {
        match approver.approve(question) {
            Approval::Interrupted => Err(interrupted()),
            Approval::Once => Ok(Allowed {
                by: DecidedBy::User,
                remember: false,
            }),
            Approval::ForSession => {
                self.allow_for_session(request);
                Ok(Allowed {
                    by: DecidedBy::User,
                    remember: true,
                })
            }
            Approval::No(note) => Err(Denied {
                message: match note {
                    Some(note) => format!(
                        "denied: the user refused {} and said: {note}",
                        request.describe()
                    ),
                    None => format!(
                        "denied: the user refused {}; do not retry it, ask them what to do instead",
                        request.describe()
                    ),
                },
                by: DecidedBy::User,
            }),
        }
    }
}

/// What a "yes for this session" covers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SessionScope {
    /// Every call of the tool.
    Any,
    /// Simple commands starting with these words (`git status` covers `git status -s`).
    Prefix(String),
    /// Exactly this command line.
    Exact(String),
}

impl SessionScope {
    /// The end of the question asking about it.
    fn question(&self) -> String {
        match self {
            SessionScope::Any => String::new(),
            SessionScope::Prefix(prefix) => {
                format!(" (\"yes for this session\" covers `{prefix}*`)")
            }
            SessionScope::Exact(_) => {
                " (\"yes for this session\" covers exactly this command line)".to_string()
            }
        }
    }
}

/// The denial of a call the user interrupted at its prompt.
fn interrupted() -> Denied {
    Denied {
        message: "error: not run: the user interrupted the turn".into(),
        by: DecidedBy::Interrupted,
    }
}

/// What "yes for this session" covers: for one simple command, its first words
/// (`git status` for `git status -s`, `ls` for `ls -la`), so saying yes to one command
/// does not allow every command; for a command line that joins or nests commands, or
/// does more than run one, exactly that line; any call of other tools.
fn session_scope(request: &Request) -> SessionScope {
    let (true, Some(key)) = (
        request.permission == PermissionKey::BASH,
        request.key.as_deref(),
    ) else {
        return SessionScope::Any;
    };
    let line = shell::parse(key);
    let Some(command) = line.single() else {
        return SessionScope::Exact(key.trim().to_string());
    };
    let text = command.text();
    let words: Vec<&str> = text.split_whitespace().collect();
    SessionScope::Prefix(match words.as_slice() {
        [first, second, ..] if !second.starts_with('-') && !second.contains(['/', '.', '=']) => {
            format!("{first} {second}")
        }
        [first, ..] => first.to_string(),
        [] => String::new(),
    })
}

impl Gate {
    fn denied_message(&self, request: &Request, source: &Source) -> String {
        match (source, &self.agent) {
            (Source::Agent, Some(agent)) => agent_denied_message(request, agent),
            _ => denied_message(request, source),
        }
    }
}

fn agent_denied_message(request: &Request, agent: &AgentRestriction) -> String {
    let hint = match &agent.hint {
        Some(hint) => format!("; {hint}"),
        None => format!(
            " (its [agents.{}] table in conch.toml decides); do not retry it",
            agent.agent
        ),
    };
    format!(
        "denied: {} ({} permission) is not allowed for the `{}` agent{hint}",
        request.describe(),
        request.permission,
        agent.agent
    )
}

fn denied_message(request: &Request, source: &Source) -> String {
    let why = match source {
        Source::Default => format!(
            "`{}` is set to \"deny\" in the [permission] table of conch.toml",
            request.permission
        ),
        Source::Rule(rule) => format!(
            "by the rule `{rule}` in conch.toml{}",
            hidden_code_note(request, rule)
        ),
        Source::Flag(flag) => format!("by {flag}"),
        Source::Agent => "by the agent profile in use".to_string(),
    };
    format!(
        "denied: {} ({} permission) is not allowed {why}",
        request.describe(),
        request.permission
    )
}

/// Why a deny or ask rule caught a command line none of whose commands it names: the line
/// may run code no rule can see.
fn hidden_code_note(request: &Request, rule: &PermissionRule) -> String {
    let (true, Some(key)) = (
        request.permission == PermissionKey::BASH,
        request.key.as_deref(),
    ) else {
        return String::new();
    };
    let line = shell::parse(key);
    let named = line.commands.iter().any(|command| {
        rule.matches_command(&CommandSubject::Command {
            command,
            coverable: false,
        })
    });
    match line.constructs.iter().find(|c| c.hides_code()) {
        Some(construct) if !named && rule.decision != Decision::Allow => {
            format!(", which also catches what a command line may run unseen: {construct}")
        }
        _ => String::new(),
    }
}

fn headless_message(request: &Request) -> String {
    let flag = match request.permission.as_str() {
        "edit" => "--yes or --allow-edit",
        _ => "--yes",
    };
    let needs = format!(
        "denied: {} ({} permission) needs approval and there is no terminal to ask on",
        request.describe(),
        request.permission
    );
    let rule = |pattern: &str| {
        format!(
            "\n[[permission.rules]]\ntool = {:?}\npattern = {pattern:?}\ndecision = \"allow\"",
            request.tool
        )
    };
    if let ("bash", Some(key)) = (request.permission.as_str(), request.key.as_deref()) {
        let line = shell::parse(key);
        if let Some(construct) = line.first_construct() {
            return format!(
                "{needs}; rerun with {flag}. No allow rule but pattern \"*\" covers this \
                 command line, because {construct}; a rule allows only plain simple commands, \
                 so run them one by one to let rules allow them"
            );
        }
        if line.commands.len() > 1 {
            let mut patterns: Vec<String> = line.commands.iter().map(|c| c.text()).collect();
            patterns.dedup();
            let rules: String = patterns.iter().map(|p| rule(p)).collect();
            return format!(
                "{needs}; rerun with {flag}, or allow each of its commands in conch.toml:{rules}"
            );
        }
        if let Some(command) = line.commands.first() {
            return format!(
                "{needs}; rerun with {flag}, or allow it in conch.toml:{}",
                rule(&command.text())
            );
        }
    }
    format!(
        "{needs}; rerun with {flag}, or allow it in conch.toml:{}",
        rule(request.key.as_deref().unwrap_or("*"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(tool: &str, permission: &str, key: Option<&str>) -> Request {
        Request {
            tool: tool.into(),
            permission: PermissionKey::parse(permission).expect("a key"),
            key: key.map(Into::into),
        }
    }

    fn decision(gate: &Gate, tool: &str, permission: &str, key: &str) -> Decision {
        gate.decide(&request(tool, permission, Some(key))).decision
    }

    fn rules(rules: &[(&str, &str, Decision)]) -> Gate {
        Gate::new(
            Policy {
                defaults: BTreeMap::new(),
                rules: rules
                    .iter()
                    .map(|(tool, pattern, d)| PermissionRule::new(tool, pattern, *d))
                    .collect(),
                ..Policy::default()
            },
            Flags::default(),
        )
    }

    struct Answer(Approval, Vec<String>);
    impl Approver for Answer {
        fn approve(&mut self, question: &str) -> Approval {
            self.1.push(question.to_string());
            self.0.clone()
        }
    }

    #[test]
    fn reads_are_allowed_and_everything_else_asks_by_default() {
        let gate = Gate::default();
        assert_eq!(decision(&gate, "read", "read", "a"), Decision::Allow);
        assert_eq!(decision(&gate, "write", "edit", "a"), Decision::Ask);
        assert_eq!(decision(&gate, "bash", "bash", "ls"), Decision::Ask);
        assert_eq!(decision(&gate, "fetch", "webfetch", "u"), Decision::Ask);
        assert_eq!(decision(&gate, "odd", "custom", "x"), Decision::Ask);
    }

    #[test]
    fn configured_defaults_replace_the_built_in_ones() {
        let mut policy = Policy::default();
        policy.defaults.insert(PermissionKey::EDIT, Decision::Allow);
        policy.defaults.insert(PermissionKey::READ, Decision::Deny);
        let gate = Gate::new(policy, Flags::default());
        assert_eq!(decision(&gate, "write", "edit", "a"), Decision::Allow);
        assert_eq!(decision(&gate, "read", "read", "a"), Decision::Deny);
        assert_eq!(decision(&gate, "bash", "bash", "ls"), Decision::Ask);
    }

    #[test]
    fn the_last_matching_rule_wins() {
        let gate = rules(&[
            ("bash", "*", Decision::Deny),
            ("bash", "git *", Decision::Allow),
            ("bash", "git push*", Decision::Ask),
        ]);
        assert_eq!(decision(&gate, "bash", "bash", "rm -rf /"), Decision::Deny);
        assert_eq!(
            decision(&gate, "bash", "bash", "git status"),
            Decision::Allow
        );
        assert_eq!(
            decision(&gate, "bash", "bash", "git push -f"),
            Decision::Ask
        );
        let reversed = rules(&[
            ("bash", "git *", Decision::Allow),
            ("bash", "*", Decision::Deny),
        ]);
        assert_eq!(
            decision(&reversed, "bash", "bash", "git status"),
            Decision::Deny
        );
    }

    #[test]
    fn restrictions_of_an_untrusted_project_only_ever_make_a_decision_stricter() {
        let mut gate = rules(&[
            ("bash", "git *", Decision::Allow),
            ("bash", "rm *", Decision::Deny),
        ]);
        gate.policy.restrictions = vec![
            PermissionRule::new("bash", "rm *", Decision::Ask),
            PermissionRule::new("bash", "git push*", Decision::Ask),
        ];
        assert_eq!(decision(&gate, "bash", "bash", "rm -rf x"), Decision::Deny);
        assert_eq!(decision(&gate, "bash", "bash", "git push"), Decision::Ask);
        assert_eq!(decision(&gate, "bash", "bash", "git log"), Decision::Allow);
    }

    #[test]
    fn rules_for_other_tools_do_not_apply() {
        let gate = rules(&[
            ("edit", "*", Decision::Deny),
            ("write", "*", Decision::Deny),
        ]);
        assert_eq!(decision(&gate, "read", "read", "x"), Decision::Allow);
    }

    #[test]
    fn yes_approves_asks_but_not_explicit_denies() {
        let mut gate = rules(&[("bash", "rm *", Decision::Deny)]);
        gate.flags.yes = true;
        assert_eq!(decision(&gate, "bash", "bash", "ls"), Decision::Allow);
        assert_eq!(decision(&gate, "write", "edit", "a"), Decision::Allow);
        assert_eq!(decision(&gate, "bash", "bash", "rm -rf x"), Decision::Deny);
    }

    #[test]
    fn allow_edit_approves_only_edits() {
        let mut gate = rules(&[("edit", ".env", Decision::Deny)]);
        gate.flags.allow_edit = true;
        assert_eq!(
            decision(&gate, "write", "edit", "src/a.rs"),
            Decision::Allow
        );
        assert_eq!(decision(&gate, "write", "edit", ".env"), Decision::Deny);
        assert_eq!(decision(&gate, "bash", "bash", "ls"), Decision::Ask);
    }

    #[test]
    fn no_bash_denies_bash_even_when_rules_or_yes_allow_it() {
        let mut gate = rules(&[("bash", "*", Decision::Allow)]);
        gate.flags.no_bash = true;
        gate.flags.yes = true;
        let verdict = gate.decide(&request("bash", "bash", Some("ls")));
        assert_eq!(verdict.decision, Decision::Deny);
        assert_eq!(verdict.source, Source::Flag("--no-bash"));
        assert_eq!(decision(&gate, "write", "edit", "a"), Decision::Allow);
    }

    #[test]
    fn headless_ask_is_denied_with_how_to_allow_it() {
        let mut gate = Gate::default();
        let denied = gate
            .check(&request("write", "edit", Some("src/main.rs")), None)
            .unwrap_err()
            .message;
        assert!(denied.contains("`write` on `src/main.rs`"), "{denied}");
        assert!(denied.contains("no terminal"), "{denied}");
        assert!(denied.contains("--yes or --allow-edit"), "{denied}");
        assert!(denied.contains("[[permission.rules]]"), "{denied}");
        assert!(denied.contains("pattern = \"src/main.rs\""), "{denied}");
        let bash = gate
            .check(&request("bash", "bash", Some("ls")), None)
            .unwrap_err()
            .message;
        assert!(bash.contains("rerun with --yes,"), "{bash}");
        let joined = gate
            .check(&request("bash", "bash", Some("ls; rm x")), None)
            .unwrap_err()
            .message;
        assert!(joined.contains("allow each of its commands"), "{joined}");
        assert!(joined.contains("pattern = \"ls\""), "{joined}");
        assert!(joined.contains("pattern = \"rm x\""), "{joined}");
        let hidden = gate
            .check(&request("bash", "bash", Some("git status $(rm x)")), None)
            .unwrap_err()
            .message;
        assert!(hidden.contains("rerun with --yes"), "{hidden}");
        assert!(hidden.contains("command substitution `$( )`"), "{hidden}");
        assert!(!hidden.contains('\n'), "{hidden}");
    }

    /// Every way found to run `rm f1` past a deny rule, or code past an allow rule.
    const ESCAPES: [&str; 27] = [
        "{ rm f1; }",
        "rm\tf1",
        "if true; then rm f1; fi",
        "/bin/rm f1",
        "true; rm f1",
        "true && rm f1",
        "false || rm f1",
        "ls | rm f1",
        "rm f1 &",
        "true\nrm f1",
        "echo $(rm f1)",
        "echo `rm f1`",
        "cat <(rm f1)",
        "echo ${X:=$(rm f1)}",
        "eval 'rm f1'",
        "bash -c 'rm f1'",
        "env rm f1",
        "echo f1 | xargs rm",
        "find . -name f1 -exec rm {} \\;",
        "r\\m f1",
        "$'\\x72m' f1",
        "$(echo rm) f1",
        "/bin/r? f1",
        "/bin/[r]m f1",
        "X=rm; $X f1",
        "sudo -u root rm f1",
        "timeout 5 rm f1",
    ];

    #[test]
    fn a_deny_rule_catches_rm_in_every_escape_form() {
        let mut policy = Policy::default();
        policy.defaults.insert(PermissionKey::BASH, Decision::Allow);
        policy
            .rules
            .push(PermissionRule::new("bash", "rm *", Decision::Deny));
        let gate = Gate::new(policy, Flags::default());
        for line in ESCAPES {
            assert_eq!(
                decision(&gate, "bash", "bash", line),
                Decision::Deny,
                "{line:?}"
            );
        }
        assert_eq!(decision(&gate, "bash", "bash", "ls -la"), Decision::Allow);
        assert_eq!(
            decision(&gate, "bash", "bash", "echo rm f1"),
            Decision::Allow
        );
    }

    #[test]
    fn an_allow_rule_covers_no_escape_form() {
        let gate = rules(&[
            ("bash", "true*", Decision::Allow),
            ("bash", "false*", Decision::Allow),
            ("bash", "echo*", Decision::Allow),
            ("bash", "ls*", Decision::Allow),
            ("bash", "cat*", Decision::Allow),
            ("bash", "find*", Decision::Allow),
            ("bash", "git status*", Decision::Allow),
        ]);
        for line in ESCAPES {
            assert_eq!(
                decision(&gate, "bash", "bash", line),
                Decision::Ask,
                "{line:?}"
            );
        }
        assert_eq!(
            decision(
                &gate,
                "bash",
                "bash",
                "git status ${Y:=$'\\x24'(touch PWNED)}${Y@P}"
            ),
            Decision::Ask
        );
        for plain in [
            "git status --short",
            "ls -la | wc -l",
            "echo \"a; b\"",
            "ls && echo done",
        ] {
            let expected = if plain.contains("wc") {
                Decision::Ask
            } else {
                Decision::Allow
            };
            assert_eq!(
                decision(&gate, "bash", "bash", plain),
                expected,
                "{plain:?}"
            );
        }
    }

    #[test]
    fn ordinary_commands_still_match_their_rules() {
        let gate = rules(&[
            ("bash", "git status*", Decision::Allow),
            ("bash", "cargo test*", Decision::Allow),
            ("bash", "ls*", Decision::Allow),
            ("bash", "wc*", Decision::Allow),
        ]);
        for line in [
            "git status --short",
            "cargo test -p x",
            "ls -la | wc -l",
            "cargo test 2>&1",
            "  git status  ",
        ] {
            assert_eq!(
                decision(&gate, "bash", "bash", line),
                Decision::Allow,
                "{line:?}"
            );
        }
        assert_eq!(decision(&gate, "bash", "bash", "ls > x"), Decision::Ask);
    }

    #[test]
    fn a_line_gets_the_strictest_decision_of_its_commands() {
        let gate = rules(&[
            ("bash", "ls*", Decision::Allow),
            ("bash", "git push*", Decision::Ask),
            ("bash", "rm *", Decision::Deny),
        ]);
        assert_eq!(
            decision(&gate, "bash", "bash", "ls; git push; rm x"),
            Decision::Deny
        );
        assert_eq!(
            decision(&gate, "bash", "bash", "ls && git push"),
            Decision::Ask
        );
        let mut gate = rules(&[("bash", "rm *", Decision::Deny)]);
        let denied = gate
            .check(&request("bash", "bash", Some("$(echo rm) f1")), None)
            .unwrap_err()
            .message;
        assert!(denied.contains("pattern = \"rm *\""), "{denied}");
        assert!(denied.contains("computed when it runs"), "{denied}");
    }

    #[test]
    fn yes_for_the_session_to_a_joined_line_covers_exactly_that_line() {
        let mut gate = Gate::default();
        let mut always = Answer(Approval::ForSession, Vec::new());
        let line = "sleep 30; echo done";
        gate.check(&request("bash", "bash", Some(line)), Some(&mut always))
            .unwrap();
        assert!(
            always.1[0].contains("covers exactly this command line"),
            "{:?}",
            always.1
        );
        let again = gate
            .check(&request("bash", "bash", Some(line)), None)
            .unwrap();
        assert_eq!(again.by, DecidedBy::Session);
        for other in ["sleep 30; rm x", "sleep 30", "echo done"] {
            assert!(
                gate.check(&request("bash", "bash", Some(other)), None)
                    .is_err(),
                "{other}"
            );
        }
    }

    #[test]
    fn yes_for_the_session_to_commands_covers_lines_of_them() {
        let mut gate = Gate::default();
        let mut always = Answer(Approval::ForSession, Vec::new());
        for line in ["ls -la", "wc -l x"] {
            gate.check(&request("bash", "bash", Some(line)), Some(&mut always))
                .unwrap();
        }
        assert!(always.1[0].contains("covers `ls*`"), "{:?}", always.1);
        let joined = gate
            .check(&request("bash", "bash", Some("ls | wc -l")), None)
            .unwrap();
        assert_eq!(joined.by, DecidedBy::Session);
        assert!(
            gate.check(&request("bash", "bash", Some("ls $(rm x)")), None)
                .is_err()
        );
    }

    #[test]
    fn yes_for_the_session_to_a_command_does_not_cover_one_joined_to_it() {
        let mut gate = Gate::default();
        let mut always = Answer(Approval::ForSession, Vec::new());
        gate.check(
            &request("bash", "bash", Some("git status")),
            Some(&mut always),
        )
        .unwrap();
        let later = gate
            .check(&request("bash", "bash", Some("git status -s")), None)
            .unwrap();
        assert_eq!(later.by, DecidedBy::Session);
        assert!(
            gate.check(&request("bash", "bash", Some("git status; rm -rf ~")), None)
                .is_err()
        );
    }

    #[test]
    fn an_explicit_deny_names_the_rule() {
        let mut gate = rules(&[("read", "secret/*", Decision::Deny)]);
        let denied = gate
            .check(&request("read", "read", Some("secret/x")), None)
            .unwrap_err()
            .message;
        assert!(denied.contains("`read` on `secret/x`"), "{denied}");
        assert!(denied.contains("pattern = \"secret/*\""), "{denied}");
        assert!(
            gate.check(&request("read", "read", Some("src/x")), None)
                .is_ok()
        );
    }

    #[test]
    fn an_approver_is_asked_once_and_its_answer_stands() {
        let mut gate = Gate::default();
        let call = request("write", "edit", Some("a.txt"));
        let mut yes = Answer(Approval::Once, Vec::new());
        assert!(gate.check(&call, Some(&mut yes)).is_ok());
        assert_eq!(yes.1, ["Allow `write` on `a.txt`?"]);
        let mut no = Answer(Approval::No(Some("use edit".into())), Vec::new());
        let denied = gate.check(&call, Some(&mut no)).unwrap_err();
        assert!(denied.message.contains("refused"), "{}", denied.message);
        assert!(
            denied.message.ends_with("said: use edit"),
            "{}",
            denied.message
        );
        assert_eq!(denied.by, DecidedBy::User);
        let mut unused = Answer(Approval::No(None), Vec::new());
        assert!(
            gate.check(&request("read", "read", Some("a")), Some(&mut unused))
                .is_ok()
        );
        assert!(unused.1.is_empty());
    }

    #[test]
    fn yes_for_the_session_stops_asking_about_that_tool() {
        let mut gate = Gate::default();
        let mut always = Answer(Approval::ForSession, Vec::new());
        let first = gate
            .check(&request("write", "edit", Some("a")), Some(&mut always))
            .unwrap();
        assert!(first.remember);
        let later = gate
            .check(&request("write", "edit", Some("b")), None)
            .unwrap();
        assert_eq!(later.by, DecidedBy::Session);
        assert_eq!(always.1.len(), 1);
        assert!(
            gate.check(&request("bash", "bash", Some("ls")), None)
                .is_err()
        );
    }
}
