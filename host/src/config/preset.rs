//! Presets: the well-known OpenAI-compatible servers, so a config can name one instead
//! of spelling out its URL and key variable.

/// One known server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    /// Where its API lives, ending in `/v1`.
    pub base_url: &'static str,
    /// The variable that holds its API key by convention; `None` for local servers.
    pub key_env: Option<&'static str>,
    /// The model used when none is configured; `None` for local servers, whose models
    /// are whatever the user pulled.
    pub model: Option<&'static str>,
    /// Whether its default model takes images; local servers run whatever was pulled,
    /// so they say no until `vision = true` says otherwise.
    pub vision: bool,
}

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "openai",
        base_url: "https://api.openai.com/v1",
        key_env: Some("OPENAI_API_KEY"),
        model: Some("gpt-4.1"),
        vision: true,
    },
    Preset {
        name: "deepseek",
        base_url: "https://api.deepseek.com/v1",
        key_env: Some("DEEPSEEK_API_KEY"),
        model: Some("deepseek-chat"),
        vision: false,
    },
    Preset {
        name: "kimi",
        base_url: "https://api.moonshot.ai/v1",
        key_env: Some("MOONSHOT_API_KEY"),
        model: Some("kimi-k2-0711-preview"),
        vision: false,
    },
    Preset {
        name: "ollama",
        base_url: "http://localhost:11434/v1",
        key_env: None,
        model: None,
        vision: false,
    },
    Preset {
        name: "llamacpp",
        base_url: "http://localhost:8080/v1",
        key_env: None,
        model: None,
        vision: false,
    },
    Preset {
        name: "vllm",
        base_url: "http://localhost:8000/v1",
        key_env: None,
        model: None,
        vision: false,
    },
];

/// The preset with this name.
pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// The preset names, for error messages.
pub fn names() -> String {
    PRESETS
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A base URL without trailing `/`. With a preset, whose API is known to live under
/// `/v1`, a missing `/v1` is added: `http://localhost:11434` means the Ollama server.
pub fn normalise_base_url(url: &str, preset: Option<&Preset>) -> String {
    let url = url.trim().trim_end_matches('/');
    if preset.is_some() && !url.ends_with("/v1") {
        format!("{url}/v1")
    } else {
        url.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_slashes_are_removed() {
        assert_eq!(
            normalise_base_url("https://example.com/api/", None),
            "https://example.com/api"
        );
    }

    #[test]
    fn presets_get_their_v1_back() {
        let ollama = find("ollama");
        assert_eq!(
            normalise_base_url("http://localhost:11434", ollama),
            "http://localhost:11434/v1"
        );
        assert_eq!(
            normalise_base_url("http://gpu-box:11434/v1/", ollama),
            "http://gpu-box:11434/v1"
        );
    }

    #[test]
    fn every_preset_url_is_already_normal() {
        for preset in PRESETS {
            assert_eq!(
                normalise_base_url(preset.base_url, Some(preset)),
                preset.base_url
            );
        }
    }
}
