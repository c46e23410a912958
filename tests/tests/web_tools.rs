//! `webfetch` end to end: the real binary fetches from an HTTP server this test runs on
//! loopback — HTML to Markdown, redirects, HTTP errors, the size cap, the timeout, and
//! the guards: loopback refused unless configured (also when a redirect leads there),
//! host deny lists, and the gate's "ask" denied without a terminal.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use conch_tests::project::Project;
use conch_tests::{Run, json_lines, run};

/// An HTTP/1.1 server on 127.0.0.1 with a few fixed routes, one thread per connection.
struct WebServer {
    port: u16,
}

impl WebServer {
    fn start() -> WebServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || serve(stream, port));
            }
        });
        WebServer { port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn serve(mut stream: TcpStream, port: u16) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Request::new(&mut headers);
    if parsed.parse(&request).is_err() {
        return;
    }
    let path = parsed.path.unwrap_or("/").to_string();
    let (status, content_type, body, location): (&str, &str, Vec<u8>, Option<String>) = match path
        .as_str()
    {
        "/page" => (
            "200 OK",
            "text/html; charset=utf-8",
            b"<!doctype html><html><head><title>T</title><script>alert(1)</script></head>\
                  <body><h1>Release notes</h1><p>See <a href=\"/docs\">the docs</a>.</p>\
                  <ul><li>fast</li><li>safe</li></ul></body></html>"
                .to_vec(),
            None,
        ),
        "/latin1" => (
            "200 OK",
            "text/html",
            b"<html><head><meta charset=\"iso-8859-1\"></head><body><p>caf\xe9</p></body></html>"
                .to_vec(),
            None,
        ),
        "/moved" => ("302 Found", "text/plain", Vec::new(), Some("/page".into())),
        "/to-localhost" => (
            "302 Found",
            "text/plain",
            Vec::new(),
            Some(format!("http://localhost:{port}/page")),
        ),
        "/big" => ("200 OK", "text/plain", vec![b'x'; 200_000], None),
        "/image" => ("200 OK", "image/png", b"\x89PNG\r\n".to_vec(), None),
        "/slow" => {
            std::thread::sleep(Duration::from_secs(20));
            ("200 OK", "text/plain", b"late".to_vec(), None)
        }
        _ => (
            "404 Not Found",
            "text/plain",
            b"no such page".to_vec(),
            None,
        ),
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    if let Some(location) = location {
        head.push_str(&format!("location: {location}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// A project whose conch.toml has `webfetch` as given (the provider is never used).
fn project(webfetch: &str) -> Project {
    Project::with_config("http://127.0.0.1:9/v1", webfetch)
}

const LOCAL: &str = "[webfetch]\nallow_private = true\n";

fn fetch(project: &Project, input: serde_json::Value, extra: &[&str]) -> Run {
    let input = input.to_string();
    let mut args = vec!["tool", "webfetch", input.as_str()];
    args.extend_from_slice(extra);
    run(&mut project.conch(&args))
}

#[test]
fn html_comes_back_as_markdown_without_scripts() {
    let server = WebServer::start();
    let project = project(LOCAL);
    let out = fetch(
        &project,
        serde_json::json!({"url": server.url("/page")}),
        &["--yes"],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("HTTP 200"), "{}", out.stdout);
    assert!(out.stdout.contains("# Release notes"), "{}", out.stdout);
    assert!(out.stdout.contains("[the docs](/docs)"), "{}", out.stdout);
    assert!(out.stdout.contains("fast"), "{}", out.stdout);
    assert!(!out.stdout.contains("alert(1)"), "{}", out.stdout);

    let text = fetch(
        &project,
        serde_json::json!({"url": server.url("/page"), "format": "text"}),
        &["--yes"],
    );
    assert!(text.stdout.contains("Release notes"), "{}", text.stdout);
    assert!(!text.stdout.contains("<h1>"), "{}", text.stdout);
}

#[test]
fn the_page_charset_is_honoured() {
    let server = WebServer::start();
    let out = fetch(
        &project(LOCAL),
        serde_json::json!({"url": server.url("/latin1")}),
        &["--yes"],
    );
    assert!(out.stdout.contains("café"), "{out:?}");
}

#[test]
fn redirects_are_followed_and_the_final_url_reported() {
    let server = WebServer::start();
    let out = fetch(
        &project(LOCAL),
        serde_json::json!({"url": server.url("/moved")}),
        &["--yes", "--json"],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let result = &json_lines(&out.stdout)[0];
    assert_eq!(result["metadata"]["url"], server.url("/page"));
    assert!(result["text"].as_str().unwrap().contains("# Release notes"));
}

#[test]
fn an_http_error_is_a_tool_error_naming_the_status() {
    let server = WebServer::start();
    let out = fetch(
        &project(LOCAL),
        serde_json::json!({"url": server.url("/missing")}),
        &["--yes", "--json"],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    let error = &json_lines(&out.stdout)[0]["error"];
    assert_eq!(error["kind"], "not_found", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("HTTP 404"),
        "{error}"
    );
}

#[test]
fn a_body_over_the_cap_is_cut_and_says_so() {
    let server = WebServer::start();
    let out = fetch(
        &project(LOCAL),
        serde_json::json!({"url": server.url("/big"), "max_bytes": 1000}),
        &["--yes", "--json"],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let result = &json_lines(&out.stdout)[0];
    assert_eq!(result["metadata"]["bytes"], 1000);
    assert_eq!(result["metadata"]["truncated"], true);
    assert!(
        result["text"]
            .as_str()
            .unwrap()
            .contains("body cut at 1000 bytes"),
        "{result}"
    );
}

#[test]
fn a_binary_body_is_refused() {
    let server = WebServer::start();
    let out = fetch(
        &project(LOCAL),
        serde_json::json!({"url": server.url("/image")}),
        &["--yes"],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("image/png"), "{}", out.stderr);
}

#[test]
fn a_slow_server_times_out() {
    let server = WebServer::start();
    let out = fetch(
        &project(LOCAL),
        serde_json::json!({"url": server.url("/slow"), "timeout_secs": 1}),
        &["--yes"],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
}

#[test]
fn loopback_is_refused_by_default_and_allowed_by_config() {
    let server = WebServer::start();
    let url = server.url("/page");
    let refused = fetch(&project(""), serde_json::json!({"url": url}), &["--yes"]);
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused.stderr.contains("private or local address")
            && refused.stderr.contains("allow_private"),
        "{}",
        refused.stderr
    );
    let allowed = fetch(&project(LOCAL), serde_json::json!({"url": url}), &["--yes"]);
    assert_eq!(allowed.code, Some(0), "{allowed:?}");
}

#[test]
fn every_redirect_hop_is_checked_against_the_host_lists() {
    let server = WebServer::start();
    let project = project("[webfetch]\nallow_private = true\ndeny_hosts = [\"localhost\"]\n");
    let out = fetch(
        &project,
        serde_json::json!({"url": server.url("/to-localhost")}),
        &["--yes"],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("deny_hosts"), "{}", out.stderr);
}

#[test]
fn an_allow_list_keeps_other_hosts_out() {
    let server = WebServer::start();
    let project = project("[webfetch]\nallow_private = true\nallow_hosts = [\"*.example.org\"]\n");
    let out = fetch(
        &project,
        serde_json::json!({"url": server.url("/page")}),
        &["--yes"],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("allow_hosts"), "{}", out.stderr);
}

#[test]
fn without_a_terminal_or_yes_the_fetch_is_denied() {
    let server = WebServer::start();
    let out = fetch(
        &project(LOCAL),
        serde_json::json!({"url": server.url("/page")}),
        &[],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("denied") && out.stderr.contains("--yes"),
        "{}",
        out.stderr
    );
}

#[test]
fn only_http_urls_are_accepted() {
    let out = fetch(
        &project(LOCAL),
        serde_json::json!({"url": "file:///etc/passwd"}),
        &["--yes"],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("not an http"), "{}", out.stderr);
}

#[test]
fn a_plugin_cannot_fetch_another_url_than_the_approved_one() {
    let server = WebServer::start();
    let project = project(LOCAL);
    let plugin = conch_tests::fixture_plugin("hostile");
    let input = serde_json::json!({"url": server.url("/page")}).to_string();
    let out = run(&mut project.conch(&[
        "tool",
        "smuggle",
        &input,
        "--yes",
        "--plugin",
        &plugin.to_string_lossy(),
    ]));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("only the approved URL"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_agent_fetches_with_yes_and_is_denied_without_it() {
    use conch_tests::mock::{MockLlm, Reply};
    let server = WebServer::start();
    let call = || Reply::tool_call("webfetch", serde_json::json!({"url": server.url("/page")}));
    let mock = MockLlm::start(vec![
        call(),
        Reply::text("read it"),
        call(),
        Reply::text("could not"),
    ]);
    let project = Project::with_config(&mock.url(), LOCAL);
    let allowed = run(&mut project.conch(&["run", "--yes", "read the release notes"]));
    assert_eq!(allowed.code, Some(0), "{allowed:?}");
    assert!(
        mock.last_tool_result(1).contains("# Release notes"),
        "{}",
        mock.last_tool_result(1)
    );
    let denied = run(&mut project.conch(&["run", "read them again"]));
    assert_eq!(denied.code, Some(0), "{denied:?}");
    let result = mock.last_tool_result(3);
    assert!(
        result.contains("denied") && result.contains("webfetch"),
        "{result}"
    );
}

/// The built-in web component repackaged as plugin `intranet-web`, declaring it fetches
/// only from `127.0.0.1`, installed to replace the built-in `webfetch`.
fn intranet_project() -> Project {
    let project = project(&format!(
        "{LOCAL}\n[plugins]\nreplace_builtins = [\"webfetch\"]\n"
    ));
    let packaged = project.repackage_builtin("web", |manifest| {
        manifest["name"] = "intranet-web".into();
        manifest["hosts"] = serde_json::json!(["127.0.0.1"]);
    });
    let out = run(&mut project.conch(&["plugin", "install", "--yes", packaged.to_str().unwrap()]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr.contains("only these hosts: 127.0.0.1"),
        "{out:?}"
    );
    project
}

#[test]
fn a_plugin_fetches_only_from_the_hosts_it_declares_on_every_hop() {
    let server = WebServer::start();
    let project = intranet_project();
    let out = fetch(
        &project,
        serde_json::json!({"url": server.url("/page")}),
        &["--yes"],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("Release notes"), "{out:?}");

    // Another host is refused before the gate, even though [webfetch] allows it.
    let elsewhere = format!("http://localhost:{}/page", server.port);
    let out = fetch(&project, serde_json::json!({"url": elsewhere}), &["--yes"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains(
            "plugin `intranet-web` declares that it fetches only from `127.0.0.1`; localhost is not one of them"
        ),
        "{out:?}"
    );

    // A declared host redirecting elsewhere is refused at the hop.
    let out = fetch(
        &project,
        serde_json::json!({"url": server.url("/to-localhost")}),
        &["--yes"],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("fetches only from `127.0.0.1`; localhost is not one of them"),
        "{out:?}"
    );
}

#[test]
fn replay_with_yes_still_refuses_a_host_the_config_denies() {
    use conch_tests::mock::{MockLlm, Reply};
    let server = WebServer::start();
    let mock = MockLlm::start(vec![
        Reply::tool_call("webfetch", serde_json::json!({"url": server.url("/page")})),
        Reply::text("read it"),
    ]);
    let project = Project::with_config(&mock.url(), LOCAL);
    let out = run(&mut project.conch(&["run", "--yes", "read the release notes"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let id = project.session_lines()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let config = std::fs::read_to_string(project.config_file()).unwrap();
    project.write_config(&config.replace(
        "allow_private = true",
        "allow_private = true\ndeny_hosts = [\"127.0.0.1\"]",
    ));
    let out = run(&mut project.conch(&["replay", &id, "--yes"]));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.contains("differs"), "{out:?}");
    assert!(out.stdout.contains("deny_hosts"), "{out:?}");
}
