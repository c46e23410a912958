//! Resolution as a whole: files merged, presets applied, the environment on top.

use super::*;

/// A user config dir and a project (a git root) in temp dirs.
struct Setup {
    user: tempfile::TempDir,
    project: tempfile::TempDir,
    env: HashMap<String, String>,
}

impl Setup {
    fn new() -> Self {
        let user = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        std::fs::create_dir(project.path().join(".git")).unwrap();
        let env = HashMap::from([(
            "CONCH_CONFIG_DIR".to_string(),
            user.path().display().to_string(),
        )]);
        Setup { user, project, env }
    }

    fn user_file(self, text: &str) -> Self {
        std::fs::write(self.user.path().join(FILE_NAME), text).unwrap();
        self
    }

    fn project_file(self, text: &str) -> Self {
        std::fs::write(self.project.path().join(FILE_NAME), text).unwrap();
        self
    }

    fn env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    fn resolve(&self) -> Result<ResolvedConfig, ConfigError> {
        resolve(self.project.path(), &self.env)
    }

    fn error(&self) -> String {
        match self.resolve() {
            Ok(config) => panic!("resolved: {config:?}"),
            Err(e) => e.to_string(),
        }
    }
}

#[test]
fn project_overrides_user_key_by_key() {
    let setup = Setup::new()
        .user_file(
            r#"
            provider = "deepseek"
            max_steps = 20
            [providers.deepseek]
            model = "deepseek-chat"
            api_key = "sk-user-key-0123456789"
            headers = { "X-A" = "user", "X-B" = "user" }
            context_window = 64000
            "#,
        )
        .project_file(
            r#"
            [providers.deepseek]
            model = "deepseek-reasoner"
            headers = { "X-B" = "project" }
            "#,
        );
    let config = setup.resolve().unwrap();
    let p = &config.provider;
    assert_eq!(p.name, "deepseek");
    assert_eq!(p.model, "deepseek-reasoner");
    assert_eq!(p.base_url, "https://api.deepseek.com/v1");
    assert_eq!(
        p.api_key.as_ref().unwrap().expose(),
        "sk-user-key-0123456789"
    );
    assert_eq!(p.headers["X-A"], "user");
    assert_eq!(p.headers["X-B"], "project");
    assert_eq!(p.context_window, Some(64000));
    assert_eq!(config.max_steps, 20);
    assert_eq!(
        config.sources,
        vec![
            setup.user.path().join(FILE_NAME),
            setup.project.path().join(FILE_NAME)
        ]
    );
}

#[test]
fn preset_named_provider_takes_its_key_from_the_conventional_variable() {
    let config = Setup::new()
        .project_file("provider = \"kimi\"\nmodel = \"kimi-k2\"\n")
        .env("MOONSHOT_API_KEY", "sk-moonshot-0123456789")
        .resolve()
        .unwrap();
    assert_eq!(config.provider.base_url, "https://api.moonshot.ai/v1");
    assert_eq!(config.provider.model, "kimi-k2");
    assert_eq!(
        config.provider.api_key.unwrap().expose(),
        "sk-moonshot-0123456789"
    );
    assert_eq!(config.max_steps, DEFAULT_MAX_STEPS);
}

#[test]
fn provider_with_a_preset_gets_v1_added_and_no_key() {
    let config = Setup::new()
        .project_file(
            r#"
            [providers.box]
            preset = "ollama"
            base_url = "http://gpu-box:11434/"
            model = "qwen3"
            "#,
        )
        .resolve()
        .unwrap();
    assert_eq!(config.provider.name, "box");
    assert_eq!(config.provider.base_url, "http://gpu-box:11434/v1");
    assert_eq!(config.provider.api_key, None);
}

#[test]
fn custom_provider_url_keeps_its_path() {
    let config = Setup::new()
        .project_file("[providers.proxy]\nbase_url = \"https://llm.corp/api/\"\nmodel = \"m\"\n")
        .resolve()
        .unwrap();
    assert_eq!(config.provider.base_url, "https://llm.corp/api");
}

#[test]
fn placeholders_are_filled_from_the_environment() {
    let config = Setup::new()
        .project_file(
            r#"
            provider = "deepseek"
            [providers.deepseek]
            model = "deepseek-chat"
            api_key = "${MY_KEY}"
            headers = { "X-Team" = "team-${TEAM}" }
            "#,
        )
        .env("MY_KEY", "sk-from-placeholder-0000")
        .env("TEAM", "blue")
        .resolve()
        .unwrap();
    assert_eq!(
        config.provider.api_key.unwrap().expose(),
        "sk-from-placeholder-0000"
    );
    assert_eq!(config.provider.headers["X-Team"], "team-blue");
}

#[test]
fn unset_placeholder_of_the_active_provider_is_an_error() {
    let setup = Setup::new().project_file(
        "provider = \"deepseek\"\n[providers.deepseek]\nmodel = \"m\"\napi_key = \"${DEEPSEEK_API_KEY}\"\n",
    );
    let err = setup.error();
    assert!(err.contains("providers.deepseek.api_key"), "{err}");
    assert!(
        err.contains("set DEEPSEEK_API_KEY or remove the placeholder"),
        "{err}"
    );
    assert!(
        err.contains(&setup.project.path().display().to_string()),
        "{err}"
    );
}

#[test]
fn unset_placeholder_of_an_unused_or_overridden_value_is_no_error() {
    let config = Setup::new()
        .user_file(
            r#"
            provider = "ollama"
            [providers.openai]
            api_key = "${UNSET_OPENAI}"
            [providers.ollama]
            model = "${UNSET_MODEL}"
            "#,
        )
        .project_file("[providers.ollama]\nmodel = \"qwen3\"\n")
        .resolve()
        .unwrap();
    assert_eq!(config.provider.model, "qwen3");
}

#[test]
fn env_alone_makes_a_provider() {
    let config = Setup::new()
        .env("CONCH_BASE_URL", "http://localhost:9999/v1/")
        .env("CONCH_MODEL", "local-model")
        .env("CONCH_API_KEY", "sk-env-0123456789abcd")
        .resolve()
        .unwrap();
    assert_eq!(config.provider.name, "env");
    assert_eq!(config.provider.base_url, "http://localhost:9999/v1");
    assert_eq!(config.provider.model, "local-model");
    assert_eq!(
        config.provider.api_key.unwrap().expose(),
        "sk-env-0123456789abcd"
    );
    assert!(config.sources.is_empty());
}

#[test]
fn conch_provider_selects_a_preset_without_any_file() {
    let config = Setup::new()
        .env("CONCH_PROVIDER", "llamacpp")
        .env("CONCH_MODEL", "any")
        .resolve()
        .unwrap();
    assert_eq!(config.provider.name, "llamacpp");
    assert_eq!(config.provider.base_url, "http://localhost:8080/v1");
}

#[test]
fn env_overrides_the_files_provider_and_fields() {
    let setup = Setup::new().project_file(
        r#"
        provider = "deepseek"
        model = "deepseek-chat"
        [providers.deepseek]
        api_key = "sk-file-key-0123456789"
        [providers.openai]
        model = "gpt-5"
        "#,
    );
    let config = setup
        .env("CONCH_PROVIDER", "openai")
        .env("OPENAI_API_KEY", "sk-openai-0123456789")
        .resolve()
        .unwrap();
    // The top-level model belongs to deepseek, so openai keeps its own.
    assert_eq!(config.provider.name, "openai");
    assert_eq!(config.provider.model, "gpt-5");
    assert_eq!(
        config.provider.api_key.unwrap().expose(),
        "sk-openai-0123456789"
    );
}

#[test]
fn conch_model_and_key_override_the_file() {
    let config = Setup::new()
        .project_file(
            "provider = \"deepseek\"\n[providers.deepseek]\nmodel = \"a\"\napi_key = \"sk-file-0123456789ab\"\n",
        )
        .env("CONCH_MODEL", "b")
        .env("CONCH_API_KEY", "sk-env-0123456789abcd")
        .resolve()
        .unwrap();
    assert_eq!(config.provider.model, "b");
    assert_eq!(
        config.provider.api_key.unwrap().expose(),
        "sk-env-0123456789abcd"
    );
}

#[test]
fn a_hosted_preset_needs_only_a_key() {
    let config = Setup::new()
        .env("CONCH_PROVIDER", "deepseek")
        .env("DEEPSEEK_API_KEY", "sk-deepseek-0123456789")
        .resolve()
        .unwrap();
    assert_eq!(config.provider.base_url, "https://api.deepseek.com/v1");
    assert_eq!(config.provider.model, "deepseek-chat");
}

#[test]
fn a_hosted_preset_without_its_key_says_which_variable_to_set() {
    let err = Setup::new().env("CONCH_PROVIDER", "deepseek").error();
    assert!(err.contains("provider `deepseek` has no api key"), "{err}");
    assert!(err.contains("set DEEPSEEK_API_KEY"), "{err}");
    // Behind a URL of the user's own (a proxy), no key may be needed.
    let config = Setup::new()
        .project_file(
            "provider = \"deepseek\"\n[providers.deepseek]\nbase_url = \"http://proxy:8080/v1\"\n",
        )
        .resolve()
        .unwrap();
    assert!(config.provider.api_key.is_none());
}

#[test]
fn missing_model_says_which_provider_and_what_to_set() {
    let err = Setup::new().project_file("provider = \"vllm\"\n").error();
    assert!(err.contains("provider `vllm` has no model"), "{err}");
    assert!(err.contains("providers.vllm.model"), "{err}");
    assert!(err.contains("CONCH_MODEL"), "{err}");
}

#[test]
fn missing_base_url_of_a_custom_provider_is_explained() {
    let err = Setup::new()
        .project_file("[providers.mine]\nmodel = \"m\"\n")
        .error();
    assert!(err.contains("provider `mine` has no base_url"), "{err}");
    assert!(err.contains("CONCH_BASE_URL"), "{err}");
}

#[test]
fn nothing_configured_explains_how_to_start() {
    let err = Setup::new().error();
    assert!(err.contains("no provider chosen"), "{err}");
    assert!(err.contains("CONCH_BASE_URL"), "{err}");
}

#[test]
fn unknown_provider_lists_the_known_ones() {
    let err = Setup::new()
        .project_file("provider = \"nope\"\n[providers.mine]\nmodel = \"m\"\n")
        .error();
    assert!(err.contains("no provider named `nope`"), "{err}");
    assert!(err.contains("configured: mine"), "{err}");
}

#[test]
fn render_masks_the_key_and_lists_sources() {
    let setup = Setup::new().project_file(
        r#"
        provider = "deepseek"
        [providers.deepseek]
        model = "deepseek-chat"
        api_key = "sk-0123456789abcdefwxyz"
        headers = { Authorization = "Bearer abcdefghijklmnop1234", "X-Plain" = "shown" }
        "#,
    );
    let text = setup.resolve().unwrap().render();
    assert!(text.contains("api_key = \"sk-…wxyz\""), "{text}");
    assert!(!text.contains("0123456789abcdef"), "{text}");
    assert!(!text.contains("abcdefghijklmnop"), "{text}");
    assert!(text.contains("\"X-Plain\" = \"shown\""), "{text}");
    assert!(text.contains(&setup.project.path().join(FILE_NAME).display().to_string()));
}

#[test]
fn webfetch_lists_merge_and_the_project_decides_private_addresses() {
    let setup = Setup::new()
        .user_file("[webfetch]\nallow_hosts = [\"docs.rs\"]\ndeny_hosts = [\"a.example\"]\n")
        .project_file("[webfetch]\ndeny_hosts = [\"b.example\"]\nallow_private = true\n");
    let policy = read(
        setup.project.path(),
        setup.env.clone(),
        ProjectTrust::Granted,
    )
    .map(|c| c.webfetch())
    .unwrap();
    assert_eq!(policy.allow_hosts, ["docs.rs"]);
    assert_eq!(policy.deny_hosts, ["a.example", "b.example"]);
    assert!(policy.allow_private);
    let nothing = Setup::new();
    let default = read(
        nothing.project.path(),
        nothing.env.clone(),
        ProjectTrust::Granted,
    )
    .map(|c| c.webfetch())
    .unwrap();
    assert!(!default.allow_private && default.allow_hosts.is_empty());
    let typo = Setup::new().project_file("[webfetch]\nallow_privat = true\n");
    let error = read(typo.project.path(), typo.env.clone(), ProjectTrust::Granted)
        .map(|c| c.webfetch())
        .unwrap_err();
    assert!(error.to_string().contains("allow_privat"), "{error}");
}

#[test]
fn an_untrusted_project_may_set_prices_over_the_users() {
    let setup = Setup::new()
        .user_file(
            "[pricing.\"m1\"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n\n[pricing.\"m2\"]\ninput_per_mtok = 3.0\noutput_per_mtok = 4.0\n",
        )
        .project_file(
            "[pricing.\"m1\"]\ninput_per_mtok = 0.5\noutput_per_mtok = 1.5\ncached_input_per_mtok = 0.1\n",
        );
    let config = read(
        setup.project.path(),
        setup.env.clone(),
        ProjectTrust::Stored,
    )
    .unwrap();
    assert!(config.ignored().is_empty(), "{:?}", config.ignored());
    let m1 = config.pricing("m1").unwrap();
    assert_eq!(m1.input_per_mtok, 0.5);
    assert_eq!(m1.cached_input_per_mtok, Some(0.1));
    assert_eq!(config.pricing("m2").unwrap().output_per_mtok, 4.0);
    assert!(config.pricing("m3").is_none());
}

#[test]
fn a_price_that_is_no_number_of_dollars_names_its_key() {
    let setup =
        Setup::new().user_file("[pricing.\"m\"]\ninput_per_mtok = -1.0\noutput_per_mtok = 2.0\n");
    let error = read(
        setup.project.path(),
        setup.env.clone(),
        ProjectTrust::Stored,
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("pricing.\"m\".input_per_mtok"),
        "{error}"
    );
    let setup = Setup::new().user_file("[pricing.\"m\"]\ninput_per_mtok = 1.0\n");
    let error = read(
        setup.project.path(),
        setup.env.clone(),
        ProjectTrust::Stored,
    )
    .unwrap_err();
    assert!(error.to_string().contains("output_per_mtok"), "{error}");
}

#[test]
fn vision_comes_from_the_table_else_the_preset_else_no() {
    let vision = |text: &str| {
        Setup::new()
            .user_file(text)
            .env("OPENAI_API_KEY", "sk-openai-0123456789")
            .env("DEEPSEEK_API_KEY", "sk-deepseek-0123456789")
            .resolve()
            .unwrap()
            .provider
            .vision
    };
    assert!(vision("provider = \"openai\"\n"));
    assert!(!vision("provider = \"deepseek\"\n"));
    assert!(!vision(
        "provider = \"local\"\n[providers.local]\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n"
    ));
    assert!(vision(
        "provider = \"local\"\n[providers.local]\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\nvision = true\n"
    ));
    assert!(!vision(
        "provider = \"openai\"\n[providers.openai]\nmodel = \"gpt-3.5-turbo\"\nvision = false\n"
    ));
    assert!(!vision(
        "provider = \"cli\"\n[providers.cli]\nkind = \"agent-cli\"\ncommand = \"claude\"\n"
    ));
}
