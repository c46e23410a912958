//! An MCP tool's input schema made fit for the model APIs and the host's validator: the
//! top level is always an object, local `$ref`s are inlined (some OpenAI-compatible
//! servers do not resolve them), and `format`s the validator does not know are dropped.
//! Their size is watched: every request carries them.

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
/// About how many tokens the MCP tools' definitions may take in every request before the
/// user is warned (estimated as bytes / 4).
pub const TOKEN_BUDGET: usize = 10_000;

/// How many tokens `tools`' definitions take, estimated as bytes / 4.
fn estimated_tokens(tool: &super::McpTool) -> usize {
    (tool.spec.name.len() + tool.spec.description.len() + tool.spec.input_schema.to_string().len())
        / 4
}

/// A warning when the definitions of `tools` exceed [`TOKEN_BUDGET`], naming the servers
/// that take the most.
pub fn over_budget(tools: &[super::McpTool]) -> Option<String> {
    let mut by_server: Vec<(&str, usize)> = Vec::new();
    for tool in tools {
        let tokens = estimated_tokens(tool);
        match by_server.iter_mut().find(|(name, _)| *name == tool.server) {
            Some((_, total)) => *total += tokens,
            None => by_server.push((&tool.server, tokens)),
        }
    }
    let total: usize = by_server.iter().map(|(_, tokens)| tokens).sum();
    if total <= TOKEN_BUDGET {
        return None;
    }
    by_server.sort_by_key(|server| std::cmp::Reverse(server.1));
    let largest: Vec<String> = by_server
        .iter()
        .take(3)
        .map(|(name, tokens)| format!("`{name}` ~{tokens}"))
        .collect();
    Some(format!(
        "the MCP tools' schemas take ~{total} tokens in every request (over the ~{TOKEN_BUDGET} budget); \
         largest: {}. Trim them with enabled_tools or disabled_tools in [mcp.NAME], or disable a server",
        largest.join(", ")
    ))
}

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

    fn tool(server: &str, bytes: usize) -> crate::mcp::McpTool {
        crate::mcp::McpTool {
            spec: crate::plugin::ToolSpec {
                name: format!("mcp__{server}__t"),
                description: "x".repeat(bytes),
                permission: crate::permission::PermissionKey::MCP,
                key_arg: None,
                key_arg_fallback: None,
                input_schema: json!({"type": "object"}),
                stale_check: false,
                also_decided_as: None,
                fixed_key: None,
            },
            server: server.into(),
            tool: "t".into(),
        }
    }

    #[test]
    fn schemas_over_the_budget_are_named_largest_first() {
        assert_eq!(over_budget(&[tool("a", 1000), tool("b", 2000)]), None);
        let warning = over_budget(&[
            tool("small", 4000),
            tool("big", 30_000),
            tool("big", 10_000),
            tool("mid", 8000),
        ])
        .unwrap();
        assert!(warning.contains("over the ~10000 budget"), "{warning}");
        let (big, mid) = (
            warning.find("`big`").unwrap(),
            warning.find("`mid`").unwrap(),
        );
        assert!(big < mid, "{warning}");
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
