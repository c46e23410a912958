//! `conch:tool/state`: a key/value store per session. A call reads the session's values
//! as they were when it started, plus its own changes; the changes reach the session
//! (an `Entry::State` line each, so they survive `--continue`) only when the call
//! succeeds, like staged file changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};
use wasmtime_wasi::WasiCtxBuilder;

use super::bindings::conch::tool::state::{self as wit, Host};
use super::{CallState, Grant, HostCapability, ToolError, ToolOutput};

/// Keys and values longer than this are refused (the state is kept in memory and in
/// the session file).
const MAX_KEY_BYTES: usize = 256;
const MAX_VALUE_BYTES: usize = 256 * 1024;

/// One call's view of the session state and what it changed.
#[derive(Debug, Clone, Default)]
pub struct StateAccess {
    values: Arc<BTreeMap<String, String>>,
    changes: BTreeMap<String, Option<String>>,
}

impl StateAccess {
    /// A view of `values` with no changes yet.
    pub fn new(values: Arc<BTreeMap<String, String>>) -> Self {
        StateAccess {
            values,
            changes: BTreeMap::new(),
        }
    }

    /// The keys the call set (`Some`) or removed (`None`), in key order.
    pub fn finish(self) -> Vec<(String, Option<String>)> {
        self.changes
            .into_iter()
            .filter(|(key, value)| self.values.get(key) != value.as_ref())
            .collect()
    }
}

/// The `state` capability.
pub struct State;

impl HostCapability for State {
    const NAME: &'static str = "state";
    const MEANING: &'static str = "keep state in the session";
    const INTERFACES: &'static [&'static str] = &["state"];
    type Access = StateAccess;

    fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
        wit::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)
    }

    fn grant(grant: &Grant<'_>, _: &mut WasiCtxBuilder) -> Result<Option<StateAccess>, ToolError> {
        Ok(Some(StateAccess::new(grant.ctx.state.clone())))
    }

    /// The keys the call changed, recorded by the dispatcher.
    fn finish(access: StateAccess, output: &mut ToolOutput) {
        output.state_changes = access.finish();
    }
}

impl Host for CallState {
    fn get(&mut self, key: String) -> Option<String> {
        let state = self.granted.state.as_ref()?;
        match state.changes.get(&key) {
            Some(changed) => changed.clone(),
            None => state.values.get(&key).cloned(),
        }
    }

    fn set(&mut self, key: String, value: Option<String>) {
        let Some(state) = self.granted.state.as_mut() else {
            return;
        };
        // The WIT gives `set` no error to return: an oversized entry is dropped, and the
        // plugin sees that on its next `get`.
        if key.len() > MAX_KEY_BYTES || value.as_ref().is_some_and(|v| v.len() > MAX_VALUE_BYTES) {
            tracing::warn!(plugin = %self.plugin, key_bytes = key.len(), "state entry too large; dropped");
            return;
        }
        state.changes.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_changes_are_reported() {
        let values = Arc::new(BTreeMap::from([
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string()),
        ]));
        let mut access = StateAccess::new(values);
        access.changes.insert("a".into(), Some("1".into()));
        access.changes.insert("b".into(), None);
        access.changes.insert("c".into(), Some("3".into()));
        access.changes.insert("d".into(), None);
        assert_eq!(
            access.finish(),
            vec![
                ("b".to_string(), None),
                ("c".to_string(), Some("3".to_string()))
            ]
        );
    }
}
