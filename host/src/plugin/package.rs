//! Packaging: a plugin is one `.wasm` file whose manifest travels inside it, in a
//! top-level custom section that the host reads without compiling anything.
//!
//! Shared with `host/build.rs`, which packages the built-in plugins.

use wasm_encoder::{ComponentSection, CustomSection};

/// The name of the custom section holding the manifest (JSON).
pub const MANIFEST_SECTION: &str = "conch-manifest";

/// Returns `component` with `manifest_json` appended as its manifest section. Custom
/// sections may stand anywhere in a component, so appending keeps everything else intact.
pub fn embed_manifest(component: &[u8], manifest_json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(component.len() + manifest_json.len() + 32);
    out.extend_from_slice(component);
    CustomSection {
        name: MANIFEST_SECTION.into(),
        data: manifest_json.into(),
    }
    .append_to_component(&mut out);
    out
}
