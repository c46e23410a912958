//! `conch:tool/interact`: a plugin asks the user a question. Who answers is decided by
//! the front end (a terminal prompt in `conch run`, the repl and `conch tool` on a TTY);
//! without anyone to ask, the answer is an error telling the model to go on by itself.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};
use wasmtime_wasi::WasiCtxBuilder;

use super::bindings::conch::tool::interact::{self as wit, Host, Question};
use super::{CallState, Grant, HostCapability, ToolError};

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

/// The `interact` capability.
pub struct Interact;

impl HostCapability for Interact {
    const NAME: &'static str = "interact";
    const MEANING: &'static str = "ask you questions";
    const INTERFACES: &'static [&'static str] = &["interact"];
    type Access = InteractAccess;

    fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
        wit::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)
    }

    fn grant(
        grant: &Grant<'_>,
        _: &mut WasiCtxBuilder,
    ) -> Result<Option<InteractAccess>, ToolError> {
        Ok(Some(InteractAccess {
            asker: grant.ctx.asker.clone(),
        }))
    }
}

impl Host for CallState {
    fn ask(&mut self, q: Question) -> Result<String, String> {
        let asker = self
            .granted
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
