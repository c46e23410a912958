//! Scratch directories for the tools' tests: a throwaway workspace on the real disk.

use std::fs;
use std::path::PathBuf;

use conch_plugin::{CallContext, Workspace};

/// A directory under the system temp dir, removed on drop; it is its own workspace root
/// and working directory.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("conch-fs-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    pub fn file(&self, rel: &str, contents: impl AsRef<[u8]>) -> &Scratch {
        let path = self.0.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, contents).expect("write");
        self
    }

    /// A call's context in this workspace.
    pub fn ctx(&self) -> CallContext {
        CallContext {
            cwd: self.0.display().to_string(),
            roots: vec![self.0.display().to_string()],
            session_id: String::new(),
            call_id: String::new(),
        }
    }

    pub fn ws(&self) -> Workspace {
        Workspace::new(&self.ctx())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
