//! Capability `fs:read`: a read-only view of the workspace. The call's WASI gets
//! read-only preopens of the roots at their real absolute paths, and of the cwd as `.`;
//! the `files` import (0.1.2) reads the same roots in bulk (see `files.rs`).

use wasmtime::component::{HasSelf, Linker};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::bindings::conch::tool::files as wit;
use super::{CallState, FilesAccess, Grant, HostCapability, ToolError};

/// The `fs:read` capability.
pub struct FsRead;

impl HostCapability for FsRead {
    const NAME: &'static str = "fs:read";
    const MEANING: &'static str = "read the workspace";
    const INTERFACES: &'static [&'static str] = &["files"];
    type Access = FilesAccess;

    fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
        wit::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)
    }

    fn grant(
        grant: &Grant<'_>,
        wasi: &mut WasiCtxBuilder,
    ) -> Result<Option<FilesAccess>, ToolError> {
        let ctx = grant.ctx;
        let dirs = ctx
            .roots
            .iter()
            .map(|root| (root, root.to_string_lossy().into_owned()))
            .chain(std::iter::once((&ctx.cwd, ".".to_string())));
        for (host, guest) in dirs {
            preopen(wasi, host, guest)?;
        }
        Ok(Some(FilesAccess::new(&ctx.roots)))
    }
}

/// Preopens `host` read-only at `guest`.
pub(super) fn preopen(
    wasi: &mut WasiCtxBuilder,
    host: &std::path::Path,
    guest: impl AsRef<str>,
) -> Result<(), ToolError> {
    wasi.preopened_dir(host, guest, FsPerms::ReadOnly)
        .map(|_| ())
        .map_err(|e| ToolError::Failed(format!("cannot open {}: {e}", host.display())))
}
