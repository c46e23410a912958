//! `conch:tool/workspace`: a plugin's writes, staged for the host to show, decide on and
//! commit after the call (see `changeset`). Errors reach the guest as `Err(String)`.

use super::CallState;
use crate::changeset::Staging;
use crate::plugin::bindings::conch::tool::workspace::Host;

impl CallState {
    /// The call's staging area; plugins without `fs:edit` never get here (the import is
    /// refused when the manifest is read).
    fn staging(&mut self) -> Result<&mut Staging, String> {
        self.staging
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
