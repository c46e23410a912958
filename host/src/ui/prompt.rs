//! Asking the user on the terminal whether a tool call may run.

use std::io::{BufRead, Write};

use crate::permission::{Approval, Approver};

/// Asks on stderr and reads the answer from stdin.
pub struct TerminalApprover;

impl Approver for TerminalApprover {
    fn approve(&mut self, question: &str) -> Approval {
        eprint!(
            "{question}\n  [y] yes once  [a] yes for the rest of this session  [n] no (or type what to do instead): "
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        if std::io::stdin().lock().read_line(&mut answer).is_err() {
            return Approval::No(None);
        }
        parse_answer(&answer)
    }
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
