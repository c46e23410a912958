//! MCP servers over streamable HTTP end to end: the real binary against the loopback MCP
//! mock (tests/src/mock_mcp.rs), which records every request, so a test sees the bearer
//! token, the session id and whether conch connected at all.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use conch_tests::mock::{MockLlm, Reply};
use conch_tests::mock_mcp::{McpHttpMock, McpHttpOptions, SESSION_ID};
use conch_tests::project::ServerProject;
use conch_tests::run;
use serde_json::{Value, json};

const TOKEN: &str = "tok-web-0123456789abcdef";

/// The `[mcp.NAME]` table for the server at `url`, with `more` lines.
fn server(name: &str, url: &str, more: &str) -> String {
    format!("[mcp.{name}]\nurl = {url:?}\n{more}\n")
}

/// An allow rule for every tool of server `name`.
fn allow(name: &str) -> String {
    format!("[[permission.rules]]\ntool = \"mcp\"\npattern = \"{name}/*\"\ndecision = \"allow\"\n")
}

fn tool_names(request: &Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
        .collect()
}

/// The line of `conch mcp list` for server `name`.
fn list_line(stdout: &str, name: &str) -> String {
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or("")
        .to_string()
}

#[test]
fn a_tool_allowed_by_a_rule_reaches_the_http_server_with_the_bearer_token() {
    // One server answers as server-sent events, the other as plain JSON.
    let web = McpHttpMock::start(McpHttpOptions {
        token: Some(TOKEN.into()),
        sse: true,
        ..McpHttpOptions::default()
    });
    let plain = McpHttpMock::start(McpHttpOptions::default());
    let mock = MockLlm::start(vec![
        Reply::tool_call("mcp__web__echo", json!({"text": "over sse"})),
        Reply::tool_call("mcp__plain__echo", json!({"text": "over json"})),
        Reply::text("done"),
    ]);
    let config = format!(
        "{}{}{}{}",
        allow("web"),
        allow("plain"),
        server(
            "web",
            &web.url(),
            "bearer_token_env = \"WEB_TOKEN\"\nallow_private = true"
        ),
        server(
            "plain",
            &plain.url(),
            "allow_private = true\nheaders = { X-Team = \"${TEAM}\" }"
        ),
    );
    let p = ServerProject::new(&mock.url(), &config);
    let out = run(p
        .conch(&["run", "echo twice"])
        .env("WEB_TOKEN", TOKEN)
        .env("TEAM", "infra"));
    assert_eq!(out.code, Some(0), "{out:?}");
    let names = tool_names(&mock.requests()[0].body);
    assert!(names.contains(&"mcp__web__echo".to_string()), "{names:?}");
    assert_eq!(mock.last_tool_result(1), "echo over http: over sse");
    assert_eq!(mock.last_tool_result(2), "echo over http: over json");

    let calls = web.tool_calls();
    assert_eq!(calls.len(), 1, "{:?}", web.requests());
    assert_eq!(calls[0].body["params"]["name"], "echo");
    assert_eq!(
        calls[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(calls[0].header("mcp-session-id"), Some(SESSION_ID));
    assert!(
        web.requests()
            .iter()
            .all(|r| r.header("authorization") == Some(format!("Bearer {TOKEN}").as_str())),
        "every request carries the token"
    );
    let plain_calls = plain.tool_calls();
    assert_eq!(plain_calls.len(), 1, "{:?}", plain.requests());
    assert_eq!(plain_calls[0].header("x-team"), Some("infra"));
    assert_eq!(plain_calls[0].header("authorization"), None);
}

#[test]
fn a_401_names_the_variable_to_set_or_says_oauth_is_not_supported() {
    let web = McpHttpMock::start(McpHttpOptions {
        token: Some(TOKEN.into()),
        ..McpHttpOptions::default()
    });
    let mock = MockLlm::start(vec![]);
    let config = format!(
        "{}{}",
        server(
            "web",
            &web.url(),
            "bearer_token_env = \"WEB_TOKEN\"\nallow_private = true"
        ),
        server("open", &web.url(), "allow_private = true"),
    );
    let p = ServerProject::new(&mock.url(), &config);
    let out = run(p
        .conch(&["mcp", "list"])
        .env("WEB_TOKEN", "tok-wrong-0123456789"));
    assert_eq!(out.code, Some(0), "{out:?}");
    let line = list_line(&out.stdout, "web");
    assert!(line.contains("failed"), "{out:?}");
    assert!(line.contains("401"), "{line}");
    assert!(line.contains("set WEB_TOKEN to a valid token"), "{line}");
    assert!(!line.contains("tok-wrong"), "{line}");
    let line = list_line(&out.stdout, "open");
    assert!(line.contains("failed") && line.contains("401"), "{out:?}");
    assert!(line.contains("bearer_token_env"), "{line}");
    assert!(line.contains("OAuth is not supported"), "{line}");
    assert!(web.tool_calls().is_empty());
}

#[test]
fn an_unset_token_variable_is_named_before_connecting() {
    let web = McpHttpMock::start(McpHttpOptions::default());
    let mock = MockLlm::start(vec![]);
    let p = ServerProject::new(
        &mock.url(),
        &server(
            "web",
            &web.url(),
            "bearer_token_env = \"WEB_TOKEN_UNSET\"\nallow_private = true",
        ),
    );
    let out = run(p.conch(&["mcp", "list"]).env_remove("WEB_TOKEN_UNSET"));
    assert_eq!(out.code, Some(0), "{out:?}");
    let line = list_line(&out.stdout, "web");
    assert!(
        line.contains("WEB_TOKEN_UNSET, which is not set"),
        "{out:?}"
    );
    assert!(web.requests().is_empty(), "{:?}", web.requests());
}

#[test]
fn loopback_is_refused_unless_the_users_config_allows_it() {
    let web = McpHttpMock::start(McpHttpOptions::default());
    let mock = MockLlm::start(vec![]);
    let p = ServerProject::new(&mock.url(), &server("web", &web.url(), ""));
    let out = run(&mut p.conch(&["mcp", "list"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let line = list_line(&out.stdout, "web");
    assert!(line.contains("failed"), "{out:?}");
    assert!(
        line.contains("127.0.0.1 is a private or local address"),
        "{line}"
    );
    assert!(line.contains("allow_private = true"), "{line}");
    assert!(web.requests().is_empty(), "{:?}", web.requests());
}

#[test]
fn an_untrusted_projects_http_server_with_headers_is_dropped() {
    let web = McpHttpMock::start(McpHttpOptions::default());
    let mock = MockLlm::start(vec![Reply::text("hello")]);
    let p = ServerProject::new(&mock.url(), "");
    p.project.write(
        "conch.toml",
        &server(
            "web",
            &web.url(),
            "headers = { Authorization = \"Bearer ${USER_SECRET}\" }",
        ),
    );
    let out = run(p
        .conch(&["run", "hi"])
        .env("USER_SECRET", "sk-user-secret-0123456789"));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("is not trusted"), "{out:?}");
    assert!(
        out.stderr
            .contains("mcp.web (an HTTP MCP server with headers or a token"),
        "{out:?}"
    );
    assert!(web.requests().is_empty(), "{:?}", web.requests());
    let names = tool_names(&mock.requests()[0].body);
    assert!(!names.iter().any(|n| n.starts_with("mcp__")), "{names:?}");
}

#[test]
fn an_untrusted_projects_plain_http_server_is_not_contacted() {
    let web = McpHttpMock::start(McpHttpOptions::default());
    let mock = MockLlm::start(vec![Reply::text("hello")]);
    let p = ServerProject::new(&mock.url(), "");
    p.project
        .write("conch.toml", &server("web", &web.url(), ""));
    let out = run(&mut p.conch(&["run", "hi"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr
            .contains("mcp.web (an HTTP MCP server, which conch would contact at start)"),
        "{out:?}"
    );
    assert!(web.requests().is_empty(), "{:?}", web.requests());
}

#[test]
fn a_trusted_projects_http_server_still_cannot_allow_loopback() {
    let web = McpHttpMock::start(McpHttpOptions::default());
    let mock = MockLlm::start(vec![]);
    let p = ServerProject::new(&mock.url(), "");
    p.project.write(
        "conch.toml",
        &server("web", &web.url(), "allow_private = true"),
    );
    let out = run(&mut p.conch(&["--trust-project", "mcp", "list"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let line = list_line(&out.stdout, "web");
    assert!(line.contains("private or local address"), "{out:?}");
    assert!(line.contains("a project's file cannot"), "{line}");
    assert!(web.requests().is_empty(), "{:?}", web.requests());
}

#[test]
fn an_unreachable_server_is_reported_as_such() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    drop(listener);
    let mock = MockLlm::start(vec![]);
    let p = ServerProject::new(&mock.url(), &server("gone", &url, "allow_private = true"));
    let out = run(&mut p.conch(&["mcp", "list"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let line = list_line(&out.stdout, "gone");
    assert!(line.contains("failed"), "{out:?}");
    assert!(line.contains(&format!("cannot connect to {url}")), "{line}");
    assert!(!out.stderr.contains("ERROR"), "rmcp's own log: {out:?}");
}

#[test]
fn a_call_past_its_timeout_is_cancelled_and_the_model_told() {
    let web = McpHttpMock::start(McpHttpOptions {
        hang_calls: true,
        ..McpHttpOptions::default()
    });
    let mock = MockLlm::start(vec![
        Reply::tool_call("mcp__web__echo", json!({"text": "never answered"})),
        Reply::text("it was too slow"),
    ]);
    let config = format!(
        "{}{}",
        allow("web"),
        server(
            "web",
            &web.url(),
            "allow_private = true\ntool_timeout_secs = 1"
        )
    );
    let p = ServerProject::new(&mock.url(), &config);
    let out = run(&mut p.conch(&["run", "echo"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let result = mock.last_tool_result(1);
    assert!(result.contains("did not answer within 1 s"), "{result}");
    assert_eq!(web.tool_calls().len(), 1, "{:?}", web.requests());
}
