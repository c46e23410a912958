//! `conch:tool/interact`: a plugin asks the user a question. Who answers is decided by
//! the front end (a terminal prompt in `conch run`, the repl and `conch tool` on a TTY);
//! without anyone to ask, the answer is an error telling the model to go on by itself.

use std::sync::Arc;

use super::CallState;
use crate::plugin::bindings::conch::tool::interact::{Host, Question};

/// What a model hears when no one can answer.
pub const HEADLESS: &str = "no one can answer questions in this run (it has no terminal); \
     proceed on your own judgement: choose the most reasonable option, say which assumption you made, \
     and mention it in your final answer";

/// Someone who can answer a question: the user at a terminal.
pub trait Asker: Send + Sync + std::fmt::Debug {
    /// The answer, or `Err` with a message for the model (e.g. the user declined).
    fn ask(&self, question: &Question) -> Result<String, String>;
}

/// Who answers a call's questions: `None` when the run is headless.
#[derive(Debug, Clone, Default)]
pub struct InteractAccess {
    pub asker: Option<Arc<dyn Asker>>,
}

impl Host for CallState {
    fn ask(&mut self, q: Question) -> Result<String, String> {
        let asker = self
            .interact
            .as_ref()
            .ok_or("this plugin has no interact capability")?
            .asker
            .clone()
            .ok_or(HEADLESS)?;
        if q.prompt.trim().is_empty() {
            return Err("the question is empty; say what you want to know".into());
        }
        // Waiting for a person does not count against the plugin's deadline.
        self.clock.excluding(|| asker.ask(&q))
    }
}
