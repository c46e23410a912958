//! The `CONCH_*` variables: choose the provider and override its URL, model and key,
//! with or without any file.

use std::collections::HashMap;

/// Selects the provider by name (a configured one or a preset).
pub const PROVIDER: &str = "CONCH_PROVIDER";
pub const BASE_URL: &str = "CONCH_BASE_URL";
pub const MODEL: &str = "CONCH_MODEL";
pub const API_KEY: &str = "CONCH_API_KEY";

/// The name of the provider made from the environment alone, when no other is chosen
/// and `CONCH_BASE_URL` is set.
pub const ENV_PROVIDER: &str = "env";

/// What the environment says about the active provider; empty values count as unset.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EnvOverrides {
    pub provider: Option<String>,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<String>,
}

impl EnvOverrides {
    pub fn from_env(env: &HashMap<String, String>) -> Self {
        let get = |name: &str| env.get(name).filter(|v| !v.trim().is_empty()).cloned();
        EnvOverrides {
            provider: get(PROVIDER),
            base_url: get(BASE_URL),
            model: get(MODEL),
            api_key: get(API_KEY),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_variables_count_as_unset() {
        let env = HashMap::from([
            (MODEL.to_string(), "m".to_string()),
            (API_KEY.to_string(), String::new()),
        ]);
        let overrides = EnvOverrides::from_env(&env);
        assert_eq!(overrides.model.as_deref(), Some("m"));
        assert_eq!(overrides.api_key, None);
    }
}
