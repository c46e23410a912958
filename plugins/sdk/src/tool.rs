//! Tools as types: a tool names itself, declares its input type (deserialised with serde,
//! its JSON Schema derived with schemars) and runs. [`plugin!`](crate::plugin) exports a
//! set of them as one plugin and answers `conch plugin build`'s request for their specs,
//! from which it writes the manifest — so the schema the model sees is the type the tool
//! parses.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::de::DeserializeOwned;
use serde_json::Map;
pub use serde_json::Value;

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
    /// The field that keys a call whose input leaves `KEY_ARG` out (for the gate and the
    /// UI only: what a capability is bound to is `KEY_ARG`).
    const KEY_ARG_FALLBACK: Option<&'static str> = None;
    /// Whether the agent checks, before a change to an existing file, that the session
    /// has read it and it has not changed on disk since. `false` for tools that carry
    /// their own check (a patch's context lines); only meaningful for `edit` tools.
    const STALE_CHECK: bool = true;
    /// The input; its doc comments become the schema's descriptions.
    type Input: DeserializeOwned + JsonSchema;

    /// Runs one call.
    fn run(input: Self::Input, ctx: &CallContext) -> Result<ToolOutput, ToolError>;
}

/// Parses the input and runs `T` (what the `plugin!` macro calls).
pub fn run<T: Tool>(input: &str, ctx: &CallContext) -> Result<ToolOutput, ToolError> {
    T::run(crate::parse_input(T::NAME, input)?, ctx)
}

/// `T`'s entry in a manifest's `tools`. Fields at their default (no key argument, the
/// stale check on) are left out, as the host reads them.
pub fn spec<T: Tool>() -> Value {
    let mut spec = Map::new();
    spec.insert("name".into(), T::NAME.into());
    spec.insert("description".into(), T::DESCRIPTION.into());
    spec.insert("permission".into(), T::PERMISSION.into());
    if let Some(key_arg) = T::KEY_ARG {
        spec.insert("key_arg".into(), key_arg.into());
    }
    if let Some(fallback) = T::KEY_ARG_FALLBACK {
        spec.insert("key_arg_fallback".into(), fallback.into());
    }
    if !T::STALE_CHECK {
        spec.insert("stale_check".into(), false.into());
    }
    spec.insert("input_schema".into(), input_schema::<T::Input>());
    Value::Object(spec)
}

/// The JSON Schema of a tool's input as the providers' function-calling APIs want it:
/// one self-contained object schema.
///
/// - Subschemas are inlined: some OpenAI-compatible servers do not resolve `$ref`/`$defs`.
/// - No `$schema`, `title` or `description` at the top (the input type's name and doc
///   comment): the tool's name and description say it all.
/// - Always `properties`, `{}` for a tool without input: some providers want it.
/// - An optional field is just its type, not "or null": the model should leave it out,
///   and the hand-written schemas never offered `null` either.
/// - No `format` on integers (`uint32`, `int64`, …): not a JSON Schema format, ignored by
///   validators and providers, and a few tokens on every field of every request. The
///   range it stands for is kept as `minimum` (schemars adds `minimum: 0` for unsigned
///   types; an attribute can narrow it).
pub fn input_schema<I: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let mut schema = generator.into_root_schema_for::<I>().to_value();
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
        object.remove("title");
        object.remove("description");
        // A tool without input still lists its (no) properties: some providers refuse an
        // object schema without `properties`.
        object
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
    }
    tidy(&mut schema);
    schema
}

/// Drops `null` alternatives and integer formats throughout a schema (see [`input_schema`]).
fn tidy(schema: &mut Value) {
    match schema {
        Value::Object(object) => {
            if let Some(Value::Array(types)) = object.get_mut("type") {
                types.retain(|t| t != "null");
                if let [only] = types.as_slice() {
                    let only = only.clone();
                    object.insert("type".into(), only);
                }
                // An optional enum's values end with `null` too.
                if let Some(Value::Array(values)) = object.get_mut("enum") {
                    values.retain(|v| !v.is_null());
                }
            }
            if let Some(Value::Array(branches)) = object.get("anyOf") {
                let non_null: Vec<Value> = branches
                    .iter()
                    .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                    .cloned()
                    .collect();
                if let [only] = non_null.as_slice() {
                    object.remove("anyOf");
                    if let Value::Object(fields) = only {
                        for (key, value) in fields {
                            object.entry(key.clone()).or_insert_with(|| value.clone());
                        }
                    }
                }
            }
            if object.get("type").and_then(Value::as_str) == Some("integer") {
                object.remove("format");
            }
            object.values_mut().for_each(tidy);
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        _ => {}
    }
}

/// The answer to [`DESCRIBE`]: the specs as a JSON array.
pub fn describe(specs: Vec<Value>) -> ToolOutput {
    ToolOutput::text(Value::Array(specs).to_string())
}

/// Exports tools as a plugin: `conch_plugin::plugin!(Hello, Goodbye);` for types that
/// implement [`Tool`]. Calls are dispatched by name; an unknown name gets an error that
/// lists the plugin's tools. `ConchPlugin::specs()` gives the tools' specs natively too,
/// for a test that checks a manifest.json against them
/// ([`check_manifest`](crate::manifest::check_manifest)).
#[macro_export]
macro_rules! plugin {
    ($($tool:ty),+ $(,)?) => {
        struct ConchPlugin;

        impl ConchPlugin {
            /// The specs of this plugin's tools, in the order `plugin!` lists them.
            fn specs() -> ::std::vec::Vec<$crate::tool::Value> {
                ::std::vec![$($crate::tool::spec::<$tool>()),+]
            }
        }

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
                    return Ok($crate::tool::describe(ConchPlugin::specs()));
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

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    /// One step of a plan: a nested type, which schemars would define once and refer to.
    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // only its schema is looked at
    struct Step {
        /// What to do.
        #[schemars(length(min = 1))]
        what: String,
        /// How urgent it is.
        urgency: Option<Urgency>,
    }

    #[derive(Deserialize, JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Urgency {
        Now,
        Later,
    }

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // only its schema is looked at
    struct Plan {
        /// The steps, in order.
        steps: Vec<Step>,
        /// Minutes to spend.
        #[schemars(range(min = 1, max = 600))]
        minutes: Option<u32>,
    }

    struct Planner;
    impl Tool for Planner {
        const NAME: &'static str = "plan";
        const DESCRIPTION: &'static str = "Plans";
        const PERMISSION: &'static str = "edit";
        const STALE_CHECK: bool = false;
        type Input = Plan;
        fn run(_input: Plan, _ctx: &CallContext) -> Result<ToolOutput, ToolError> {
            Ok(ToolOutput::text(""))
        }
    }

    #[test]
    fn nested_inputs_are_inlined_without_refs() {
        let schema = input_schema::<Plan>();
        let text = schema.to_string();
        assert!(!text.contains("$ref") && !text.contains("$defs"), "{text}");
        assert_eq!(
            schema,
            json!({
                "type": "object",
                "properties": {
                    "steps": {
                        "description": "The steps, in order.",
                        "type": "array",
                        "items": {
                            "description": "One step of a plan: a nested type, which schemars would define once and refer to.",
                            "type": "object",
                            "properties": {
                                "what": {"description": "What to do.", "type": "string", "minLength": 1},
                                "urgency": {"description": "How urgent it is.", "type": "string", "enum": ["now", "later"]}
                            },
                            "required": ["what"],
                            "additionalProperties": false
                        }
                    },
                    "minutes": {
                        "description": "Minutes to spend.",
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 600
                    }
                },
                "required": ["steps"],
                "additionalProperties": false
            })
        );
    }

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Nothing {}

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)] // only its schema is looked at
    struct Maybe {
        /// Perhaps a step.
        step: Option<Step>,
    }

    #[test]
    fn an_optional_struct_is_its_schema_not_any_of_null() {
        let step = &input_schema::<Maybe>()["properties"]["step"];
        assert!(step.get("anyOf").is_none(), "{step}");
        assert_eq!(step["type"], "object");
        assert_eq!(step["description"], "Perhaps a step.");
        assert_eq!(step["required"], json!(["what"]));
    }

    #[test]
    fn an_empty_input_still_has_properties() {
        assert_eq!(
            input_schema::<Nothing>(),
            json!({"type": "object", "properties": {}, "additionalProperties": false})
        );
    }

    #[test]
    fn a_spec_leaves_out_what_is_at_its_default() {
        let spec = spec::<Planner>();
        assert_eq!(spec["stale_check"], json!(false));
        assert!(spec.get("key_arg").is_none(), "{spec}");
        assert_eq!(spec["permission"], "edit");
    }
}
