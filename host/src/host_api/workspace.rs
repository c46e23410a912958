//! `conch:tool/workspace`: a plugin's writes, staged for the host to show, decide on and
//! commit after the call (see `changeset`). Errors reach the guest as `Err(String)`.

use wasmtime::component::{HasSelf, Linker};
use wasmtime_wasi::WasiCtxBuilder;

use super::bindings::conch::tool::workspace::{self as wit, Host};
use super::{CallState, Grant, HostCapability, ToolError, ToolOutput};
use crate::changeset::{PathRules, Staging};

/// The `fs:edit` capability: the `workspace` import over a fresh staging area per call.
pub struct FsEdit;

impl HostCapability for FsEdit {
    const NAME: &'static str = "fs:edit";
    const MEANING: &'static str = "propose file changes (each shown and approved as `edit`)";
    const INTERFACES: &'static [&'static str] = &["workspace"];
    type Access = Staging;

    fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
        wit::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)
    }

    fn grant(grant: &Grant<'_>, _: &mut WasiCtxBuilder) -> Result<Option<Staging>, ToolError> {
        let ctx = grant.ctx;
        Ok(Some(Staging::new(PathRules::new(
            ctx.roots.clone(),
            ctx.cwd.clone(),
        ))))
    }

    /// The staged changes, for the dispatcher to show, decide on and commit.
    fn finish(staging: Staging, output: &mut ToolOutput) {
        let changes = staging.finish();
        if !changes.is_empty() {
            output.changes = Some(changes);
        }
    }
}

impl CallState {
    /// The call's staging area; plugins without `fs:edit` never get here (the import is
    /// refused when the manifest is read).
    fn staging(&mut self) -> Result<&mut Staging, String> {
        self.granted
            .fs_edit
            .as_mut()
            .ok_or_else(|| "this plugin has no fs:edit capability".to_string())
    }
}

impl Host for CallState {
    fn write_file(&mut self, path: String, contents: Vec<u8>) -> Result<(), String> {
        self.staging()?.write_file(&path, contents)
    }

    fn remove(&mut self, path: String) -> Result<(), String> {
        self.staging()?.remove(&path)
    }

    fn rename(&mut self, source: String, destination: String) -> Result<(), String> {
        self.staging()?.rename(&source, &destination)
    }

    fn create_dir(&mut self, path: String) -> Result<(), String> {
        self.staging()?.create_dir(&path)
    }

    fn read_file(&mut self, path: String) -> Result<Vec<u8>, String> {
        self.staging()?.read_file(&path)
    }
}
