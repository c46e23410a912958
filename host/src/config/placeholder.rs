//! `${VAR}` placeholders in config strings, filled from the environment.

use std::collections::HashMap;
use std::path::Path;

use super::ConfigError;

/// Replaces each `${NAME}` (NAME: letters, digits, `_`, not starting with a digit) with
/// the variable's value. Anything else containing `$` is left as written. A variable
/// that is not set is an error naming the file and the dotted key.
pub fn expand(
    text: &str,
    env: &HashMap<String, String>,
    file: &Path,
    key: &str,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let name = after.find('}').map(|end| &after[..end]);
        match name {
            Some(name) if is_variable_name(name) => {
                let value = env.get(name).ok_or_else(|| ConfigError::UnsetVariable {
                    file: file.to_path_buf(),
                    key: key.to_string(),
                    var: name.to_string(),
                })?;
                out.push_str(value);
                rest = &after[name.len() + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> HashMap<String, String> {
        HashMap::from([("KEY".to_string(), "sk-secret".to_string())])
    }

    fn expand_ok(text: &str) -> String {
        expand(text, &env(), Path::new("conch.toml"), "k").unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn placeholders_are_filled_anywhere_in_a_string() {
        assert_eq!(expand_ok("${KEY}"), "sk-secret");
        assert_eq!(expand_ok("Bearer ${KEY}!"), "Bearer sk-secret!");
        assert_eq!(expand_ok("${KEY}${KEY}"), "sk-secretsk-secret");
    }

    #[test]
    fn text_that_is_not_a_placeholder_stays_as_written() {
        assert_eq!(
            expand_ok("$KEY and ${ and ${1X} and $"),
            "$KEY and ${ and ${1X} and $"
        );
    }

    #[test]
    fn unset_variable_names_file_key_and_variable() {
        let err = expand(
            "${NOPE}",
            &env(),
            Path::new("/p/conch.toml"),
            "providers.x.api_key",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("/p/conch.toml"), "{err}");
        assert!(err.contains("providers.x.api_key"), "{err}");
        assert!(err.contains("set NOPE or remove the placeholder"), "{err}");
    }
}
