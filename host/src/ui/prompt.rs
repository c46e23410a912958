//! Asking the user on the terminal: whether a tool call may run, and the questions
//! tools ask (the `interact` import).

use std::io::{BufRead, Write};

use crate::host_api::Asker;
use crate::host_api::bindings::conch::tool::interact::Question;
use crate::permission::{Approval, Approver};

/// Times a choice question is asked again after an answer that is not one of them.
const CHOICE_ATTEMPTS: usize = 3;

/// Asks on stderr and reads the answer from stdin.
pub struct TerminalApprover;

impl Approver for TerminalApprover {
    fn approve(&mut self, question: &str) -> Approval {
        eprint!(
            "{question}\n  [y] yes once  [a] yes for the rest of this session  [n] no (or type what to do instead): "
        );
        let _ = std::io::stderr().flush();
        match read_answer() {
            Answer::Line(answer) => parse_answer(&answer),
            Answer::Interrupted => {
                eprintln!("^C");
                Approval::Interrupted
            }
            Answer::Failed => Approval::No(None),
        }
    }
}

/// What came back from the terminal.
enum Answer {
    Line(String),
    /// Ctrl-C instead of an answer.
    Interrupted,
    Failed,
}

/// Set by the SIGINT handler [`read_answer`] installs while it waits.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_interrupt(_signal: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Reads one line from stdin, or notices Ctrl-C while waiting for it. The prompt is
/// asked from inside a turn, whose own Ctrl-C watcher cannot run while this thread
/// waits; so for the wait a handler of its own notes SIGINT, and once the wait is over
/// the run's handler is put back and the signal raised again for it (the turn stops).
#[allow(unsafe_code)]
fn read_answer() -> Answer {
    use std::sync::atomic::Ordering;
    INTERRUPTED.store(false, Ordering::SeqCst);
    // SAFETY: sigaction with zeroed structs filled in as the man page says; the handler
    // only stores to an atomic (async-signal-safe). No SA_RESTART, so poll is woken.
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    let installed = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_interrupt as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, &mut previous) == 0
    };
    let answer = loop {
        if INTERRUPTED.load(Ordering::SeqCst) {
            break Answer::Interrupted;
        }
        let mut stdin = libc::pollfd {
            fd: libc::STDIN_FILENO,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, a bounded wait.
        let ready = unsafe { libc::poll(&mut stdin, 1, 100) };
        if ready > 0
            || (ready < 0
                && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted)
        {
            let mut line = String::new();
            break match std::io::stdin().lock().read_line(&mut line) {
                Ok(_) => Answer::Line(line),
                Err(_) => Answer::Failed,
            };
        }
    };
    if installed {
        // SAFETY: restores the handler saved above, then re-raises a caught SIGINT.
        unsafe {
            libc::sigaction(libc::SIGINT, &previous, std::ptr::null_mut());
            if matches!(answer, Answer::Interrupted) {
                libc::raise(libc::SIGINT);
            }
        }
    }
    answer
}

/// Asks a yes/no question on stderr and reads the answer from stdin; anything but a yes
/// (or no answer) is a no.
pub fn confirm(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "Yes")
}

/// Asks a tool's question on stderr and reads the answer from stdin.
#[derive(Debug)]
pub struct TerminalAsker;

impl Asker for TerminalAsker {
    fn ask(&self, question: &Question) -> Result<String, String> {
        let mut text = format!("? {}", question.prompt.trim_end());
        for (n, choice) in question.choices.iter().enumerate() {
            text.push_str(&format!("\n  [{}] {choice}", n + 1));
        }
        if question.allow_other && !question.choices.is_empty() {
            text.push_str("\n  (or type another answer)");
        }
        eprintln!("{text}");
        for _ in 0..CHOICE_ATTEMPTS {
            eprint!("> ");
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            match std::io::stdin().lock().read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            match parse_choice(question, &line) {
                Some(answer) => return Ok(answer),
                None if line.trim().is_empty() => break,
                None => eprintln!("answer with a number from 1 to {}", question.choices.len()),
            }
        }
        Err("the user did not answer; proceed on your own judgement and say which assumption you made".into())
    }
}

/// The answer a typed line stands for: with choices, a number or a choice's text (any
/// text when others are allowed); without, the text. `None` for no valid answer.
fn parse_choice(question: &Question, line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    if question.choices.is_empty() {
        return Some(line.to_string());
    }
    if let Some(choice) = line
        .parse::<usize>()
        .ok()
        .and_then(|n| question.choices.get(n.checked_sub(1)?))
    {
        return Some(choice.clone());
    }
    question
        .choices
        .iter()
        .find(|c| c.eq_ignore_ascii_case(line))
        .cloned()
        .or_else(|| question.allow_other.then(|| line.to_string()))
}

/// `y`/`yes` → once, `a`/`always` → for the session, empty or `n`/`no` → no; anything
/// else is a "no" carrying the text as a message for the model.
fn parse_answer(answer: &str) -> Approval {
    let answer = answer.trim();
    match answer.to_ascii_lowercase().as_str() {
        "y" | "yes" => Approval::Once,
        "a" | "always" => Approval::ForSession,
        "" | "n" | "no" => Approval::No(None),
        _ => Approval::No(Some(answer.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_picked_by_number_or_text() {
        let question = Question {
            prompt: "Which?".into(),
            choices: vec!["red".into(), "blue".into()],
            allow_other: false,
        };
        assert_eq!(parse_choice(&question, "2\n"), Some("blue".into()));
        assert_eq!(parse_choice(&question, "RED"), Some("red".into()));
        assert_eq!(parse_choice(&question, "3"), None);
        assert_eq!(parse_choice(&question, "green"), None);
        let open = Question {
            allow_other: true,
            ..question
        };
        assert_eq!(parse_choice(&open, "green"), Some("green".into()));
        let free = Question {
            prompt: "Name?".into(),
            choices: Vec::new(),
            allow_other: false,
        };
        assert_eq!(parse_choice(&free, " conch \n"), Some("conch".into()));
    }

    #[test]
    fn answers_are_read_generously() {
        assert_eq!(parse_answer("Y\n"), Approval::Once);
        assert_eq!(parse_answer(" always "), Approval::ForSession);
        assert_eq!(parse_answer("\n"), Approval::No(None));
        assert_eq!(
            parse_answer("use the edit tool instead\n"),
            Approval::No(Some("use the edit tool instead".into()))
        );
    }
}
