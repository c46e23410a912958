//! Tools as types: a tool names itself, declares its input type (deserialised with serde,
//! its JSON Schema derived with schemars) and runs. [`plugin!`](crate::plugin) exports a
//! set of them as one plugin and answers `conch plugin build`'s request for their specs,
//! from which it writes the manifest — so the schema the model sees is the type the tool
//! parses.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::{CallContext, ToolError, ToolOutput};

/// The tool `conch plugin build` calls (only then: it is never in a manifest) to learn
/// the specs of a plugin's tools.
pub const DESCRIBE: &str = "conch-describe";

/// One tool.
pub trait Tool {
    /// The name the model calls it by: 1–64 letters, digits, `_` or `-`.
    const NAME: &'static str;
    /// What it does and when to use it, for the model.
    const DESCRIPTION: &'static str;
    /// The permission the gate decides on: `read` (default), `edit`, `bash`, `webfetch`,
    /// or a key of the plugin's own that users write rules for.
    const PERMISSION: &'static str = "read";
    /// The input field that says what a call touches (a path, a URL, a command): shown
    /// to the user and matched by permission rules.
    const KEY_ARG: Option<&'static str> = None;
    /// The input; its doc comments become the schema's descriptions.
    type Input: DeserializeOwned + JsonSchema;

    /// Runs one call.
    fn run(input: Self::Input, ctx: &CallContext) -> Result<ToolOutput, ToolError>;
}

/// Parses the input and runs `T` (what the `plugin!` macro calls).
pub fn run<T: Tool>(input: &str, ctx: &CallContext) -> Result<ToolOutput, ToolError> {
    T::run(crate::parse_input(T::NAME, input)?, ctx)
}

/// `T`'s entry in a manifest's `tools`.
pub fn spec<T: Tool>() -> Value {
    let mut schema = schemars::schema_for!(T::Input).to_value();
    if let Some(object) = schema.as_object_mut() {
        // Providers' function-calling APIs want a bare object schema.
        object.remove("$schema");
        object.remove("title");
    }
    json!({
        "name": T::NAME,
        "description": T::DESCRIPTION,
        "permission": T::PERMISSION,
        "key_arg": T::KEY_ARG,
        "input_schema": schema,
    })
}

/// The answer to [`DESCRIBE`]: the specs as a JSON array.
pub fn describe(specs: Vec<Value>) -> ToolOutput {
    ToolOutput::text(Value::Array(specs).to_string())
}

/// Exports tools as a plugin: `conch_plugin::plugin!(Hello, Goodbye);` for types that
/// implement [`Tool`]. Calls are dispatched by name; an unknown name gets an error that
/// lists the plugin's tools.
#[macro_export]
macro_rules! plugin {
    ($($tool:ty),+ $(,)?) => {
        struct ConchPlugin;

        impl $crate::Guest for ConchPlugin {
            fn invoke(
                tool: String,
                input: String,
                ctx: $crate::CallContext,
            ) -> Result<$crate::ToolOutput, $crate::ToolError> {
                $(
                    if tool == <$tool as $crate::Tool>::NAME {
                        return $crate::tool::run::<$tool>(&input, &ctx);
                    }
                )+
                if tool == $crate::tool::DESCRIBE {
                    return Ok($crate::tool::describe(vec![$($crate::tool::spec::<$tool>()),+]));
                }
                let names: &[&str] = &[$(<$tool as $crate::Tool>::NAME),+];
                Err($crate::ToolError::UnknownTool(format!(
                    "this plugin has no tool `{tool}`; its tools: {}",
                    names.join(", ")
                )))
            }
        }

        $crate::export_plugin!(ConchPlugin);
    };
}
