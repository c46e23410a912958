//! Host bindings generated from `wit/` (world `plugin`). Kept alone in this module so that
//! edits elsewhere do not re-run the macro.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
});
