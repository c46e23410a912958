//! Capability `skills`: read-only preopens of the project's and the user's skill
//! directories (at `/skills/project`, `/skills/user`, see `crate::skills`), and nothing
//! else of the disk. No interface.

use wasmtime_wasi::WasiCtxBuilder;

use super::fs_read::preopen;
use super::{Grant, HostCapability, ToolError};

/// The `skills` capability.
pub struct Skills;

impl HostCapability for Skills {
    const NAME: &'static str = "skills";
    const MEANING: &'static str = "read the skill folders (project and user), nothing else";
    type Access = ();

    fn grant(grant: &Grant<'_>, wasi: &mut WasiCtxBuilder) -> Result<Option<()>, ToolError> {
        let ctx = grant.ctx;
        let root = ctx.roots.first().unwrap_or(&ctx.cwd);
        let config_dir = crate::dirs::config_dir();
        for (host, guest) in crate::skills::dirs(root, config_dir.as_deref()) {
            preopen(wasi, &host, guest)?;
        }
        Ok(Some(()))
    }
}
