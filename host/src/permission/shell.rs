//! A command line as bash will run it: every simple command it holds, wherever it is
//! nested, and every construct through which it can run code that no listed command shows.
//!
//! Rules on `bash` are decided on this, not on the text: `{ rm f1; }`, `rm<TAB>f1` and
//! `if true; then rm f1; fi` all hold the simple command `rm f1`, and
//! `git status ${Y@P}` holds a prompt expansion that can run anything. The parser is
//! tree-sitter's bash grammar (the one Codex uses); this module turns its syntax tree into
//! [`CommandLine`] and adds what bash does with some programs' arguments (`bash -c`,
//! `env`, `xargs`, `find -exec`…).

use std::fmt;

use tree_sitter::{Node, Parser};

/// Longer command lines are not parsed (a line is one command; a script belongs in a file).
const MAX_LINE_BYTES: usize = 64 * 1024;
/// Deeper syntax trees (and `bash -c` strings nested deeper) are not walked.
const MAX_DEPTH: usize = 200;

/// One simple command: a program and its arguments, each as literal text after quote
/// removal where it is literal, as written otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleCommand {
    /// `NAME=value` assignments before the program, as written: they change what it does.
    pub assignments: Vec<String>,
    /// The program word and its arguments.
    pub words: Vec<String>,
    /// For each word, whether it is literal text (not computed when the line runs).
    pub literal: Vec<bool>,
    /// More arguments are added when it runs (the command `xargs` runs).
    pub appends_args: bool,
}

impl SimpleCommand {
    /// The command as rules see it: assignments, program and arguments joined by spaces.
    pub fn text(&self) -> String {
        self.assignments
            .iter()
            .chain(&self.words)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The program and arguments without assignments, with the program reduced to its
    /// name: `/bin/rm -f x` is `rm -f x`.
    pub fn by_name(&self) -> String {
        let mut words: Vec<&str> = self.words.iter().map(String::as_str).collect();
        if let Some(program) = words.first_mut() {
            *program = basename(program);
        }
        words.join(" ")
    }

    fn program(&self) -> Option<&str> {
        self.words.first().map(|p| basename(p))
    }
}

/// `rm` for `/usr/bin/rm`.
fn basename(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

/// Something in a command line through which it runs code, or changes what a command
/// does, beyond what its simple commands say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Construct {
    /// `$( … )`: its output becomes words of another command.
    CommandSubstitution,
    /// `` `…` ``.
    Backquotes,
    /// `<( … )` or `>( … )`.
    ProcessSubstitution,
    /// `${…}` with an operator, as written.
    ParameterExpansion { text: String, hides: bool },
    /// `$(( ))`, `(( ))`, an array subscript or an arithmetic test: bash evaluates
    /// variables' values there as expressions, and `a[$(cmd)]` in a value runs `cmd`.
    Arithmetic,
    /// A program word that is not literal text (`$X args`, `$(echo rm) f1`, a glob).
    ComputedProgram(String),
    /// `eval`, with its (literal) arguments parsed as a command line.
    Eval,
    /// `eval` of words that are not literal.
    EvalOfExpansion,
    /// `source FILE` or `. FILE`.
    Source,
    /// `bash -c STRING` with a string that is not literal.
    ShellStringExpansion(String),
    /// A shell reading commands from a file or standard input.
    ShellScript(String),
    /// `trap`, `watch` and the like: a string run as a command later.
    CommandString(String),
    /// `xargs`: it runs its command with arguments read at run time.
    Xargs,
    /// `find … -exec`.
    FindExec,
    /// `NAME=value` as a command, `for NAME in`, `export`, `declare`…: a variable that
    /// later commands (or bash itself: `PATH`, `IFS`, `BASH_ENV`) read.
    SetsVariable(String),
    /// Output redirected to a file (`>`, `>>`, `&>`), or input from a computed name; not
    /// to a file descriptor or `/dev/null`.
    Redirection(String),
    /// Bash could not parse it (or part of it).
    ParseFailure,
    /// Longer than [`MAX_LINE_BYTES`] or nested deeper than [`MAX_DEPTH`].
    TooComplex,
}

impl Construct {
    /// Whether code may run through it that no simple command of the line shows, so a
    /// deny rule cannot tell whether it is caught.
    pub fn hides_code(&self) -> bool {
        match self {
            Construct::ParameterExpansion { hides, .. } => *hides,
            Construct::Arithmetic
            | Construct::ComputedProgram(_)
            | Construct::EvalOfExpansion
            | Construct::Source
            | Construct::ShellStringExpansion(_)
            | Construct::ShellScript(_)
            | Construct::CommandString(_)
            | Construct::ParseFailure
            | Construct::TooComplex => true,
            Construct::CommandSubstitution
            | Construct::Backquotes
            | Construct::ProcessSubstitution
            | Construct::Eval
            | Construct::Xargs
            | Construct::FindExec
            | Construct::SetsVariable(_)
            | Construct::Redirection(_) => false,
        }
    }
}

impl fmt::Display for Construct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Construct::CommandSubstitution => f.write_str("it uses command substitution `$( )`"),
            Construct::Backquotes => f.write_str("it uses command substitution in backquotes"),
            Construct::ProcessSubstitution => f.write_str("it uses process substitution `<( )`"),
            Construct::ParameterExpansion { text, .. } => {
                write!(f, "it uses the parameter expansion `{text}`")
            }
            Construct::Arithmetic => f.write_str("it uses arithmetic, which can run code"),
            Construct::ComputedProgram(word) => {
                write!(f, "its program `{word}` is computed when it runs")
            }
            Construct::Eval => f.write_str("it uses `eval`"),
            Construct::EvalOfExpansion => f.write_str("it runs `eval` on expanded words"),
            Construct::Source => f.write_str("it sources a file"),
            Construct::ShellStringExpansion(shell) => {
                write!(f, "it runs `{shell} -c` on a string computed when it runs")
            }
            Construct::ShellScript(shell) => {
                write!(f, "it runs `{shell}` on a script or standard input")
            }
            Construct::CommandString(program) => {
                write!(f, "`{program}` runs a string as a command")
            }
            Construct::Xargs => f.write_str("it uses `xargs`"),
            Construct::FindExec => f.write_str("it uses `find -exec`"),
            Construct::SetsVariable(name) => write!(f, "it sets the variable `{name}`"),
            Construct::Redirection(target) => write!(f, "it redirects to or from `{target}`"),
            Construct::ParseFailure => f.write_str("it does not parse as a bash command line"),
            Construct::TooComplex => f.write_str("it is too long or too deeply nested to check"),
        }
    }
}

/// A parsed command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandLine {
    /// Every simple command, in source order, nested ones included; a wrapper's inner
    /// command (`env rm x` → `rm x`) follows the wrapper.
    pub commands: Vec<SimpleCommand>,
    /// Every construct found, in source order.
    pub constructs: Vec<Construct>,
}

impl CommandLine {
    /// Whether code may run that no listed simple command shows.
    pub fn hides_code(&self) -> bool {
        self.constructs.iter().any(Construct::hides_code)
    }

    /// The construct to name in a message: the first that hides code, else the first.
    pub fn first_construct(&self) -> Option<&Construct> {
        self.constructs
            .iter()
            .find(|c| c.hides_code())
            .or(self.constructs.first())
    }

    /// One simple command and nothing else.
    pub fn single(&self) -> Option<&SimpleCommand> {
        match (self.commands.as_slice(), self.constructs.is_empty()) {
            ([only], true) => Some(only),
            _ => None,
        }
    }
}

/// Parses `line` as bash does. Never fails: what cannot be parsed is a
/// [`Construct::ParseFailure`] next to whatever commands could be read.
pub fn parse(line: &str) -> CommandLine {
    let mut walker = Walker::default();
    walker.line(line, 0);
    CommandLine {
        commands: walker.commands,
        constructs: walker.constructs,
    }
}

#[derive(Default)]
struct Walker {
    commands: Vec<SimpleCommand>,
    constructs: Vec<Construct>,
}

impl Walker {
    fn flag(&mut self, construct: Construct) {
        if !self.constructs.contains(&construct) {
            self.constructs.push(construct);
        }
    }

    /// Parses and walks one command line (the top one, or a `bash -c` string, or the
    /// arguments of `eval`) at nesting `depth`.
    fn line(&mut self, line: &str, depth: usize) {
        if line.len() > MAX_LINE_BYTES || depth > MAX_DEPTH {
            return self.flag(Construct::TooComplex);
        }
        let mut parser = Parser::new();
        if parser
            .set_language(&tree_sitter_bash::LANGUAGE.into())
            .is_err()
        {
            return self.flag(Construct::ParseFailure);
        }
        let Some(tree) = parser.parse(line, None) else {
            return self.flag(Construct::ParseFailure);
        };
        let root = tree.root_node();
        Text { text: line }.walk(self, root, depth);
        // After the walk, so that a message names what was recognised first.
        if root.has_error() {
            self.flag(Construct::ParseFailure);
        }
    }
}

/// The text a syntax tree was parsed from.
#[derive(Clone, Copy)]
struct Text<'a> {
    text: &'a str,
}

impl<'a> Text<'a> {
    fn text(self, node: Node<'_>) -> &'a str {
        self.text.get(node.byte_range()).unwrap_or("")
    }

    /// Records the simple commands and constructs in `node` and below.
    fn walk(self, out: &mut Walker, node: Node<'_>, depth: usize) {
        if depth > MAX_DEPTH {
            return out.flag(Construct::TooComplex);
        }
        if node.is_missing() {
            out.flag(Construct::ParseFailure);
        }
        match node.kind() {
            "command" => return self.command(out, node, depth),
            "command_substitution" => out.flag(if self.text(node).starts_with('`') {
                Construct::Backquotes
            } else {
                Construct::CommandSubstitution
            }),
            "process_substitution" => out.flag(Construct::ProcessSubstitution),
            "arithmetic_expansion" | "c_style_for_statement" | "subscript" => {
                out.flag(Construct::Arithmetic)
            }
            // The old `$[ … ]` arithmetic, which the grammar reads as a plain word.
            "word" if self.text(node).contains("$[") => out.flag(Construct::Arithmetic),
            // `(( … ))` as a statement.
            "compound_statement" if self.text(node).starts_with("((") => {
                out.flag(Construct::Arithmetic)
            }
            "test_command" if self.has_arithmetic_test(node) => out.flag(Construct::Arithmetic),
            "expansion" => {
                if let Some(construct) = parameter_expansion(self.text(node)) {
                    out.flag(construct);
                }
            }
            // Lower-case names are the script's own; bash and programs read upper-case ones.
            "variable_assignment" => {
                let name = self.assigned_name(node);
                if !name.chars().any(|c| c.is_ascii_lowercase()) {
                    out.flag(Construct::SetsVariable(name));
                }
            }
            "for_statement" => {
                if let Some(variable) = node.child_by_field_name("variable") {
                    let name = self.text(variable);
                    if !name.chars().any(|c| c.is_ascii_lowercase()) {
                        out.flag(Construct::SetsVariable(name.to_string()));
                    }
                }
            }
            "declaration_command" | "unset_command" => {
                let words = self.words(node);
                if let Some(program) = words.first() {
                    out.flag(Construct::SetsVariable(program.clone()));
                }
                out.commands.push(SimpleCommand {
                    assignments: Vec::new(),
                    literal: vec![false; words.len()],
                    words,
                    appends_args: false,
                });
            }
            "file_redirect" => {
                if let Some(target) = self.redirect_target(node) {
                    out.flag(Construct::Redirection(target));
                }
            }
            // Structure, text and the parts of expansions that only name things.
            "program"
            | "list"
            | "pipeline"
            | "subshell"
            | "compound_statement"
            | "do_group"
            | "if_statement"
            | "elif_clause"
            | "else_clause"
            | "while_statement"
            | "case_statement"
            | "case_item"
            | "negated_command"
            | "redirected_statement"
            | "function_definition"
            | "test_command"
            | "heredoc_redirect"
            | "heredoc_body"
            | "heredoc_start"
            | "heredoc_content"
            | "heredoc_end"
            | "herestring_redirect"
            | "variable_assignments"
            | "word"
            | "string"
            | "string_content"
            | "raw_string"
            | "ansi_c_string"
            | "translated_string"
            | "concatenation"
            | "number"
            | "array"
            | "brace_expression"
            | "simple_expansion"
            | "variable_name"
            | "special_variable_name"
            | "file_descriptor"
            | "binary_expression"
            | "unary_expression"
            | "postfix_expression"
            | "ternary_expression"
            | "parenthesized_expression"
            | "test_operator"
            | "regex"
            | "extglob_pattern"
            | "comment"
            | "command_name"
            | "ERROR" => {}
            _ if !node.is_named() => {}
            _ => out.flag(Construct::ParseFailure),
        }
        let mut cursor = node.walk();
        for child in node.children(&mut cursor) {
            self.walk(out, child, depth + 1);
        }
    }

    /// A simple command: its assignments, words and redirections, then what its program
    /// does with its arguments.
    fn command(self, out: &mut Walker, node: Node<'_>, depth: usize) {
        let mut command = SimpleCommand {
            assignments: Vec::new(),
            words: Vec::new(),
            literal: Vec::new(),
            appends_args: false,
        };
        let mut cursor = node.walk();
        for child in node.children(&mut cursor) {
            match child.kind() {
                // A prefix assignment is part of the command, not a variable set for later.
                "variable_assignment" => {
                    command.assignments.push(self.text(child).to_string());
                    let mut inner = child.walk();
                    for part in child.children(&mut inner) {
                        self.walk(out, part, depth + 1);
                    }
                    continue;
                }
                "command_name" => {
                    let word = self.text(child);
                    match self.literal(child) {
                        Some(program) if !is_glob(child, self) => {
                            command.words.push(program);
                            command.literal.push(true);
                        }
                        _ => {
                            out.flag(Construct::ComputedProgram(word.to_string()));
                            command.words.push(word.to_string());
                            command.literal.push(false);
                        }
                    }
                }
                kind if child.is_named() && !kind.ends_with("redirect") && kind != "comment" => {
                    let literal = self.literal(child);
                    command.literal.push(literal.is_some());
                    command
                        .words
                        .push(literal.unwrap_or_else(|| self.text(child).into()));
                }
                _ => {}
            }
            self.walk(out, child, depth + 1);
        }
        if command.words.is_empty() && command.assignments.is_empty() {
            return;
        }
        runs_of(out, command, depth);
    }

    /// The name a `variable_assignment` sets.
    fn assigned_name(self, node: Node<'_>) -> String {
        node.child_by_field_name("name")
            .map(|name| self.text(name).to_string())
            .unwrap_or_else(|| self.text(node).to_string())
    }

    /// The words of a declaration or `unset` command, literal where they are.
    fn words(self, node: Node<'_>) -> Vec<String> {
        let mut words = Vec::new();
        let mut cursor = node.walk();
        for child in node.children(&mut cursor) {
            words.push(
                self.literal(child)
                    .unwrap_or_else(|| self.text(child).to_string()),
            );
        }
        words
    }

    /// A `[[ ]]` comparing numbers: bash evaluates both sides as arithmetic.
    fn has_arithmetic_test(self, node: Node<'_>) -> bool {
        const ARITHMETIC: [&str; 6] = ["-eq", "-ne", "-lt", "-le", "-gt", "-ge"];
        let mut cursor = node.walk();
        node.children(&mut cursor)
            .any(|child| ARITHMETIC.contains(&self.text(child)) || self.has_arithmetic_test(child))
    }

    /// Where a redirection reads or writes, unless it is a file descriptor or /dev/null.
    fn redirect_target(self, node: Node<'_>) -> Option<String> {
        let destination = node.child_by_field_name("destination")?;
        let target = self
            .literal(destination)
            .unwrap_or_else(|| self.text(destination).to_string());
        let mut cursor = node.walk();
        let operator = node
            .children(&mut cursor)
            .find(|c| !c.is_named())
            .map(|c| self.text(c))
            .unwrap_or("");
        let duplicates = matches!(operator, ">&" | "<&" | ">&-" | "<&-");
        let to_descriptor = duplicates && (target == "-" || target.parse::<u32>().is_ok());
        // Reading a file is what an allowed `cat` does too; writing one is not.
        let reads = operator == "<" && self.literal(destination).is_some();
        (!to_descriptor && !reads && target != "/dev/null").then_some(target)
    }

    /// The text of a word after quote removal, or `None` when bash computes it
    /// (expansions, substitutions).
    fn literal(self, node: Node<'_>) -> Option<String> {
        let text = self.text(node);
        match node.kind() {
            "word" | "number" if node.named_child_count() == 0 => Some(unescape_unquoted(text)),
            "raw_string" => Some(text.get(1..text.len().saturating_sub(1))?.to_string()),
            "string" => {
                let mut cursor = node.walk();
                if node
                    .named_children(&mut cursor)
                    .any(|c| c.kind() != "string_content")
                {
                    return None;
                }
                Some(unescape_double_quoted(
                    text.get(1..text.len().saturating_sub(1))?,
                ))
            }
            "ansi_c_string" => decode_ansi_c(text.get(2..text.len().saturating_sub(1))?),
            "concatenation" | "command_name" => {
                let mut cursor = node.walk();
                let mut joined = String::new();
                for child in node.children(&mut cursor) {
                    joined.push_str(&self.literal(child)?);
                }
                Some(joined)
            }
            _ => None,
        }
    }
}

/// Whether a program word holds a glob (`/bin/r?`, `/bin/[r]m`), which bash expands.
/// The whole word's text is looked at, not each node: tree-sitter splits `/bin/[r]m` into
/// several nodes, none of which is a glob alone. A quoted `[`…`]` is counted too, which
/// only ever errs towards denying.
fn is_glob(node: Node<'_>, source: Text<'_>) -> bool {
    if has_glob(source.text(node)) {
        return true;
    }
    let mut cursor = node.walk();
    node.children(&mut cursor)
        .any(|child| child.kind() == "brace_expression" || is_glob(child, source))
}

/// `*`, `?` or a `[…]` class (a lone `[` is the test command).
fn has_glob(word: &str) -> bool {
    word.contains(['*', '?'])
        || word
            .find('[')
            .is_some_and(|open| word[open + 1..].contains(']'))
}

/// `${NAME}` and the operators that only transform a value are plain; the rest
/// (`${!X}` indirection, `${X@P}` prompt expansion, `${X:1:2}` offsets, subscripts)
/// evaluate a value as code and hide it.
fn parameter_expansion(text: &str) -> Option<Construct> {
    let inner = text.strip_prefix("${")?.strip_suffix('}')?;
    let inner = inner
        .strip_prefix('#')
        .filter(|r| !r.is_empty())
        .unwrap_or(inner);
    let name_len = if inner.starts_with(|c: char| c.is_ascii_digit()) {
        inner.chars().take_while(char::is_ascii_digit).count()
    } else if inner.starts_with(['@', '*', '#', '?', '-', '$', '!', '0']) && inner.len() == 1 {
        1
    } else {
        inner
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .count()
    };
    let rest = &inner[name_len..];
    if name_len > 0 && rest.is_empty() && !text.starts_with("${#") {
        return None;
    }
    const TRANSFORMS: [&str; 20] = [
        ":-", ":=", ":+", ":?", "-", "=", "+", "?", "##", "#", "%%", "%", "//", "/#", "/%", "/",
        "^^", "^", ",,", ",",
    ];
    let plain = name_len > 0
        && (rest.is_empty() || TRANSFORMS.iter().any(|op| rest.starts_with(op)))
        && !rest.starts_with("@");
    Some(Construct::ParameterExpansion {
        text: text.to_string(),
        hides: !plain,
    })
}

/// Shells whose `-c` string is a command line.
const SHELLS: [&str; 8] = [
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "yash", "busybox",
];

/// What a program runs of its own arguments: the command after `env`, `sudo`, `timeout`…
/// is listed as a simple command too; `bash -c` and `eval` strings are parsed as command
/// lines; the rest is flagged.
fn runs_of(out: &mut Walker, command: SimpleCommand, depth: usize) {
    let program = command.program().unwrap_or("").to_string();
    let args: Vec<(String, bool)> = command
        .words
        .iter()
        .cloned()
        .zip(command.literal.iter().copied())
        .skip(1)
        .collect();
    out.commands.push(command);
    if depth > MAX_DEPTH {
        return out.flag(Construct::TooComplex);
    }
    let words = |args: &[(String, bool)]| -> Vec<String> {
        args.iter().map(|(word, _)| word.clone()).collect()
    };
    let inner = |out: &mut Walker, args: &[(String, bool)], appends_args: bool| {
        let Some((first, literal)) = args.first() else {
            return;
        };
        if !literal || has_glob(first) {
            out.flag(Construct::ComputedProgram(first.clone()));
        }
        runs_of(
            out,
            SimpleCommand {
                assignments: Vec::new(),
                words: words(args),
                literal: args.iter().map(|(_, literal)| *literal).collect(),
                appends_args,
            },
            depth + 1,
        );
    };
    match program.as_str() {
        shell if SHELLS.contains(&shell) => {
            let args = if shell == "busybox" {
                match args.split_first() {
                    Some(((applet, _), rest)) if SHELLS.contains(&applet.as_str()) => rest.to_vec(),
                    _ => return inner(out, &args, false),
                }
            } else {
                args
            };
            match shell_string(&args) {
                Some(Some(string)) => out.line(&string, depth + 1),
                Some(None) => out.flag(Construct::ShellStringExpansion(program)),
                None => out.flag(Construct::ShellScript(program)),
            }
        }
        "eval" => {
            if args.iter().any(|(_, literal)| !literal) {
                out.flag(Construct::EvalOfExpansion);
            }
            out.flag(Construct::Eval);
            out.line(&words(&args).join(" "), depth + 1);
        }
        "source" | "." => out.flag(Construct::Source),
        "trap" | "watch" | "su" | "runuser" | "script" => {
            out.flag(Construct::CommandString(program))
        }
        "let" => out.flag(Construct::Arithmetic),
        // Builtins that take variable names evaluate a subscript in one as arithmetic:
        // `printf -v 'a[$(cmd)]' x` runs `cmd`.
        "printf" | "read" | "unset" | "test" | "[" | "declare" | "typeset" | "local" | "export"
        | "readonly" | "mapfile" | "readarray" | "getopts" | "wait"
            if args
                .iter()
                .any(|(word, _)| word.contains('[') && word.contains(['$', '`'])) =>
        {
            out.flag(Construct::Arithmetic)
        }
        "xargs" => {
            out.flag(Construct::Xargs);
            let rest = after_options(
                &args,
                &[
                    "-a",
                    "-d",
                    "-E",
                    "-e",
                    "-I",
                    "-i",
                    "-L",
                    "-l",
                    "-n",
                    "-P",
                    "-s",
                    "--arg-file",
                    "--delimiter",
                    "--eof",
                    "--replace",
                    "--max-lines",
                    "--max-args",
                    "--max-procs",
                    "--max-chars",
                    "--process-slot-var",
                ],
                0,
                false,
            );
            match rest {
                // Without a command, xargs runs `echo`.
                [] => inner(out, &[("echo".to_string(), true)], true),
                words => inner(out, words, true),
            }
        }
        "find" => {
            let mut rest = args.iter();
            while let Some((word, _)) = rest.next() {
                if matches!(word.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
                    out.flag(Construct::FindExec);
                    let command: Vec<(String, bool)> = rest
                        .by_ref()
                        .take_while(|(w, _)| w != ";" && w != "+")
                        .cloned()
                        .collect();
                    inner(out, &command, false);
                }
            }
        }
        wrapper => {
            let Some((with_value, positionals, assignments)) = wrapper_options(wrapper) else {
                return;
            };
            if wrapper == "flock" && args.iter().any(|(a, _)| a == "-c" || a == "--command") {
                out.flag(Construct::CommandString(program.clone()));
            }
            if wrapper == "env"
                && args
                    .iter()
                    .any(|(a, _)| a.starts_with("-S") || a.starts_with("--split-string"))
            {
                out.flag(Construct::CommandString(program.clone()));
            }
            let rest = after_options(&args, with_value, positionals, assignments);
            inner(out, rest, false);
        }
    }
}

/// The options of a program that runs the command in its arguments: those that take a
/// value, how many arguments come before the command, and whether `NAME=value` words do.
fn wrapper_options(program: &str) -> Option<(&'static [&'static str], usize, bool)> {
    Some(match program {
        "env" => (
            &["-u", "-C", "--unset", "--chdir", "-S", "--split-string"],
            0,
            true,
        ),
        "sudo" | "doas" => (
            &[
                "-u",
                "-g",
                "-h",
                "-C",
                "-D",
                "-p",
                "-r",
                "-t",
                "-U",
                "-T",
                "-R",
                "--user",
                "--group",
                "--host",
                "--close-from",
                "--chdir",
                "--prompt",
                "--role",
                "--type",
                "--other-user",
                "--command-timeout",
                "--chroot",
            ],
            0,
            true,
        ),
        "timeout" => (&["-s", "-k", "--signal", "--kill-after"], 1, false),
        "nice" => (&["-n", "--adjustment"], 0, false),
        "ionice" => (&["-c", "-n", "-t", "--class", "--classdata"], 0, false),
        "stdbuf" => (
            &["-i", "-o", "-e", "--input", "--output", "--error"],
            0,
            false,
        ),
        "exec" => (&["-a"], 0, false),
        "nohup" | "command" | "builtin" | "time" | "setsid" | "chronic" | "unbuffer" | "coproc" => {
            (&[], 0, false)
        }
        "chroot" => (&["--userspec", "--groups"], 1, false),
        "flock" => (&["-E", "-w", "--conflict-exit-code", "--timeout"], 1, false),
        _ => return None,
    })
}

/// The words after a wrapper's options (`-x`, `-x VALUE` for those in `with_value`,
/// `--name=VALUE`, up to `--`), its `positionals` and, if `assignments`, `NAME=value`s.
fn after_options<'w>(
    words: &'w [(String, bool)],
    with_value: &[&str],
    positionals: usize,
    assignments: bool,
) -> &'w [(String, bool)] {
    let mut i = 0;
    while let Some((word, _)) = words.get(i) {
        if word == "--" {
            i += 1;
            break;
        }
        if word.starts_with('-') && word.len() > 1 {
            i += if with_value.contains(&word.as_str()) {
                2
            } else {
                1
            };
        } else if assignments && is_assignment(word) {
            i += 1;
        } else {
            break;
        }
    }
    words.get(i + positionals..).unwrap_or(&[])
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// The command string of a shell's arguments: `Some(Some(string))` for `-c STRING`
/// (options may be grouped, `-ec`), `Some(None)` when the string is not literal, `None`
/// when the shell reads a script file or standard input instead.
fn shell_string(args: &[(String, bool)]) -> Option<Option<String>> {
    let mut words = args.iter().map(|(word, literal)| (word.as_str(), *literal));
    while let Some((word, _)) = words.next() {
        if word == "--" || !word.starts_with(['-', '+']) {
            return None;
        }
        if word.starts_with('-') && !word.starts_with("--") && word.contains('c') {
            return Some(
                words
                    .next()
                    .and_then(|(string, literal)| literal.then(|| string.to_string())),
            );
        }
        if matches!(word, "-o" | "+o" | "-O" | "+O" | "--rcfile" | "--init-file") {
            words.next();
        }
    }
    None
}

/// Backslash removal outside quotes: `\x` is `x`, a backslash-newline is nothing.
fn unescape_unquoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('\n') | None => {}
                Some(next) => out.push(next),
            },
            (c, false) => out.push(c),
        }
    }
    out
}

/// Backslash removal inside double quotes: only before `$`, `` ` ``, `"`, `\` and newline.
fn unescape_double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('\n') => {
                    chars.next();
                    continue;
                }
                Some(&next @ ('$' | '`' | '"' | '\\')) => {
                    chars.next();
                    out.push(next);
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

/// The text of `$'…'` (without `$'` and `'`), or `None` for an escape it does not know.
fn decode_ansi_c(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let digits = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, radix: u32, max: usize| {
        let mut value = 0u32;
        let mut count = 0;
        while count < max {
            match chars.peek().and_then(|c| c.to_digit(radix)) {
                Some(d) => {
                    value = value * radix + d;
                    chars.next();
                    count += 1;
                }
                None => break,
            }
        }
        (count > 0).then_some(value)
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let decoded = match chars.next()? {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'a' => '\x07',
            'b' => '\x08',
            'e' | 'E' => '\x1b',
            'f' => '\x0c',
            'v' => '\x0b',
            '\\' => '\\',
            '\'' => '\'',
            '"' => '"',
            '?' => '?',
            'x' => char::from_u32(digits(&mut chars, 16, 2)?)?,
            'u' => char::from_u32(digits(&mut chars, 16, 4)?)?,
            'U' => char::from_u32(digits(&mut chars, 16, 8)?)?,
            d @ '0'..='7' => {
                let mut value = d.to_digit(8)?;
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(digit) => {
                            value = value * 8 + digit;
                            chars.next();
                        }
                        None => break,
                    }
                }
                char::from_u32(value)?
            }
            _ => return None,
        };
        out.push(decoded);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The simple commands of `line` by program name, e.g. `rm f1`.
    fn commands(line: &str) -> Vec<String> {
        parse(line).commands.iter().map(|c| c.by_name()).collect()
    }

    fn holds(line: &str, command: &str) -> bool {
        commands(line).iter().any(|c| c == command)
    }

    #[test]
    fn a_command_is_found_wherever_it_is_nested() {
        for line in [
            "rm f1",
            "rm\tf1",
            "{ rm f1; }",
            "(rm f1)",
            "if true; then rm f1; fi",
            "if rm f1; then :; fi",
            "if false; then :; elif true; then rm f1; else :; fi",
            "while true; do rm f1; break; done",
            "until false; do rm f1; done",
            "for i in 1 2; do rm f1; done",
            "case x in x) rm f1;; esac",
            "f() { rm f1; }; f",
            "function f { rm f1; }",
            "! rm f1",
            "true; rm f1",
            "true && rm f1",
            "false || rm f1",
            "ls | rm f1",
            "ls |& rm f1",
            "rm f1 &",
            "true\nrm f1",
            "echo $(rm f1)",
            "echo `rm f1`",
            "echo \"$(rm f1)\"",
            "cat <(rm f1)",
            "tee >(rm f1)",
            "echo ${X:=$(rm f1)}",
            "cat <<EOF\n$(rm f1)\nEOF",
            "X=$(rm f1) ls",
            "r\\m f1",
            "'rm' f1",
            "\"rm\" f1",
            "$'rm' f1",
            "$'\\x72m' f1",
            "/bin/rm f1",
            "./rm f1",
            "bash -c 'rm f1'",
            "sh -ec \"rm f1\"",
            "bash -c 'bash -c \"rm f1\"'",
            "eval 'rm f1'",
            "eval rm f1",
            "env rm f1",
            "env -i FOO=1 rm f1",
            "/usr/bin/env -u HOME rm f1",
            "sudo -u root rm f1",
            "timeout 5 rm f1",
            "timeout -s KILL -k 1 5 rm f1",
            "nice -n 5 rm f1",
            "nohup rm f1",
            "command rm f1",
            "builtin rm f1",
            "exec rm f1",
            "time rm f1",
            "env nice timeout 5 rm f1",
            "coproc rm f1",
            "flock lockfile rm f1",
            "find . -name x -exec rm f1 \\;",
            "find . -execdir rm f1 \\;",
        ] {
            assert!(holds(line, "rm f1"), "{line:?}: {:?}", parse(line));
        }
    }

    #[test]
    fn words_are_literal_after_quote_removal() {
        let line = parse("echo \"a; b\" 'c d' e\\ f \"\\$x\"");
        assert_eq!(line.commands.len(), 1, "{line:?}");
        assert_eq!(line.commands[0].words, ["echo", "a; b", "c d", "e f", "$x"]);
        assert!(line.constructs.is_empty(), "{line:?}");
        assert_eq!(
            parse("git status --short")
                .single()
                .map(SimpleCommand::text),
            Some("git status --short".to_string())
        );
        assert_eq!(
            parse("FOO=1 cargo test -p x")
                .single()
                .map(SimpleCommand::text),
            Some("FOO=1 cargo test -p x".to_string())
        );
    }

    #[test]
    fn plain_command_lines_have_no_construct() {
        for line in [
            "ls -la | wc -l",
            "cargo test 2>&1",
            "cargo build 2>/dev/null",
            "git log --oneline -5 && git status",
            "echo $HOME ${HOME} \"$PWD\"",
            "cat <<'EOF'\n$(not run)\nEOF",
            "for f in *.rs; do wc -l \"$f\"; done",
            "grep -rn 'a|b' src",
            "[[ -f Cargo.toml ]] && cargo build",
            "x=1",
        ] {
            let parsed = parse(line);
            assert!(parsed.constructs.is_empty(), "{line:?}: {parsed:?}");
            assert!(!parsed.commands.is_empty() || line == "x=1", "{line:?}");
        }
    }

    #[test]
    fn constructs_that_run_code_are_flagged() {
        for (line, hides) in [
            ("git status ${Y:=$'\\x24'(touch PWNED)}${Y@P}", true),
            ("echo ${!X}", true),
            ("echo ${X:1:2}", true),
            ("echo ${a[$i]}", true),
            ("echo $((1+2))", true),
            ("(( i++ ))", true),
            ("[[ $x -eq 1 ]]", true),
            ("$X args", true),
            ("$(echo rm) f1", true),
            ("/bin/r? f1", true),
            ("/bin/[r]m f1", true),
            ("{rm,f1}", true),
            ("eval \"$CMD\"", true),
            ("source ./env.sh", true),
            (". ./env.sh", true),
            ("bash -c \"$CMD\"", true),
            ("bash script.sh", true),
            ("curl x | sh", true),
            ("trap 'rm f1' EXIT", true),
            ("env -S 'rm f1'", true),
            ("printf -v 'a[$(rm f1)]' x", true),
            ("let x=y", true),
            ("echo $[x]", true),
            ("flock -c 'rm f1' lock", true),
            ("echo 'unterminated", true),
            ("if true; then", true),
            ("echo $(date)", false),
            ("echo `date`", false),
            ("diff <(ls a) <(ls b)", false),
            ("eval 'ls'", false),
            ("ls | xargs rm", false),
            ("find . -exec rm {} \\;", false),
            ("PATH=.; ls", false),
            ("export PATH=.", false),
            ("for PATH in .; do ls; done", false),
            ("ls > out.txt", false),
            ("echo ${X:=$(date)}", false),
            ("echo ${X:-default} ${#X} ${X%.rs}", false),
        ] {
            let parsed = parse(line);
            assert!(
                !parsed.constructs.is_empty(),
                "{line:?} has no construct: {parsed:?}"
            );
            assert_eq!(parsed.hides_code(), hides, "{line:?}: {parsed:?}");
        }
    }

    #[test]
    fn xargs_runs_its_command_with_more_arguments() {
        let line = parse("find . -name '*.o' | xargs -n 1 rm");
        let rm = line.commands.iter().find(|c| c.by_name() == "rm");
        assert!(rm.is_some_and(|c| c.appends_args), "{line:?}");
    }

    #[test]
    fn hostile_input_is_refused_not_walked() {
        let long = "a ".repeat(MAX_LINE_BYTES);
        assert_eq!(parse(&long).constructs, [Construct::TooComplex]);
        let deep = format!("{}rm f1{}", "$(".repeat(3000), ")".repeat(3000));
        assert!(parse(&deep).hides_code());
        let nested = format!("{}rm f1", "eval ".repeat(300));
        assert!(parse(&nested).hides_code());
        let shells = (0..8).fold("rm f1".to_string(), |inner, _| {
            format!("bash -c {}", quote(&inner))
        });
        assert!(holds(&shells, "rm f1"), "{shells}");
        let braces = format!("{}rm f1{}", "{ ".repeat(2000), "; }".repeat(2000));
        assert!(parse(&braces).hides_code());
    }

    fn quote(text: &str) -> String {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}
