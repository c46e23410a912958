//! An MCP tool's input schema made fit for the model APIs and the host's validator: the
//! top level is always an object, local `$ref`s are inlined (some OpenAI-compatible
//! servers do not resolve them), and `format`s the validator does not know are dropped.

use serde_json::{Map, Value};

/// `format` values kept; others are dropped rather than rejected or mis-validated.
const KNOWN_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "uuid",
    "regex",
];
/// How deep `$ref`s are followed; a recursive schema is cut there (to `{}`: anything).
const MAX_REF_DEPTH: usize = 8;

/// The schema the model is given for an MCP tool whose server sent `schema`.
pub fn normalise(schema: &Map<String, Value>) -> Value {
    let root = Value::Object(schema.clone());
    let mut out = inline(&root, &root, 0);
    if let Value::Object(object) = &mut out {
        object.remove("$defs");
        object.remove("definitions");
        object.remove("$schema");
        object.insert("type".into(), Value::String("object".into()));
        object
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
    }
    out
}

fn inline(value: &Value, root: &Value, depth: usize) -> Value {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get("$ref") {
                let target = reference
                    .strip_prefix('#')
                    .and_then(|pointer| root.pointer(pointer));
                return match target {
                    Some(target) if depth < MAX_REF_DEPTH => inline(target, root, depth + 1),
                    _ => Value::Object(Map::new()),
                };
            }
            let mut out = Map::new();
            for (key, item) in object {
                if key == "format" && !item.as_str().is_some_and(|f| KNOWN_FORMATS.contains(&f)) {
                    continue;
                }
                out.insert(key.clone(), inline(item, root, depth));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| inline(i, root, depth)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(object) => object,
            _ => unreachable!(),
        }
    }

    #[test]
    fn refs_are_inlined_and_unknown_formats_dropped() {
        let schema = object(json!({
            "type": "object",
            "properties": {
                "when": {"type": "string", "format": "date-time"},
                "blob": {"type": "string", "format": "binary-ish"},
                "user": {"$ref": "#/$defs/user"}
            },
            "$defs": {"user": {"type": "object", "properties": {"name": {"type": "string"}}}}
        }));
        let out = normalise(&schema);
        assert_eq!(out["properties"]["when"]["format"], "date-time");
        assert!(out["properties"]["blob"].get("format").is_none());
        assert_eq!(
            out["properties"]["user"]["properties"]["name"]["type"],
            "string"
        );
        assert!(out.get("$defs").is_none());
        assert!(jsonschema::validator_for(&out).is_ok());
    }

    #[test]
    fn a_schema_without_type_or_with_recursion_becomes_a_usable_object() {
        let out = normalise(&object(json!({})));
        assert_eq!(out, json!({"type": "object", "properties": {}}));
        let recursive = object(json!({
            "type": "object",
            "properties": {"node": {"$ref": "#/$defs/node"}},
            "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}}
        }));
        let out = normalise(&recursive);
        assert!(jsonschema::validator_for(&out).is_ok());
    }
}
