//! Images end to end: `--image` and the repl's `/image` send a picture as a data-URL
//! part to a model that takes images, a provider that does not is refused before any
//! request, a file that is no image is refused, `read` of a PNG shows the picture to a
//! vision model (and says "binary file" to others), and a session with an image
//! continues and reads back as a notice.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::Project;
use conch_tests::{Run, run};
use serde_json::{Value, json};

/// A real 1×1 PNG (signature, IHDR, IDAT, IEND).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// The start of a JPEG (SOI, APP0 JFIF): what a JPEG is told by.
const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xFF\xD9";

/// A project on `mock` whose provider says its model takes images, or not.
fn project(mock: &MockLlm, vision: bool) -> Project {
    let project = Project::new(&mock.url());
    if vision {
        // The user's file ends inside `[providers.mock]`.
        let mut config = std::fs::read_to_string(project.config_file()).unwrap();
        config.push_str("vision = true\n");
        project.write_config(&config);
    }
    std::fs::write(project.path().join("pic.png"), PNG).unwrap();
    project
}

fn run_in(project: &Project, args: &[&str]) -> Run {
    run(&mut project.conch(args))
}

/// The decoded bytes of every image part in request `index`, with the role of the
/// message that carried it.
fn image_parts(mock: &MockLlm, index: usize) -> Vec<(String, Vec<u8>)> {
    let body = mock.requests()[index].body.clone();
    let mut found = Vec::new();
    for message in body["messages"].as_array().unwrap() {
        let Some(parts) = message["content"].as_array() else {
            continue;
        };
        for part in parts {
            if part["type"] != "image_url" {
                continue;
            }
            let url = part["image_url"]["url"].as_str().unwrap();
            let (head, data) = url.split_once(',').unwrap();
            let media_type = head
                .strip_prefix("data:")
                .and_then(|h| h.strip_suffix(";base64"))
                .unwrap();
            let bytes = STANDARD.decode(data).unwrap();
            found.push((
                format!("{} {media_type}", message["role"].as_str().unwrap()),
                bytes,
            ));
        }
    }
    found
}

/// The id of the only session of `project`.
fn only_session(project: &Project) -> String {
    let ids: Vec<String> = std::fs::read_dir(project.sessions_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".jsonl").map(str::to_string)
        })
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids[0].clone()
}

#[test]
fn image_flags_send_data_url_parts_holding_the_files_bytes() {
    let mock = MockLlm::start(vec![Reply::text("a red dot")]);
    let project = project(&mock, true);
    // Named .txt: the bytes decide, not the name.
    std::fs::write(project.path().join("photo.txt"), JPEG).unwrap();
    let out = run_in(
        &project,
        &[
            "run",
            "--image",
            "pic.png",
            "--image",
            "photo.txt",
            "what is this?",
        ],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let messages = mock.requests()[0].body["messages"].clone();
    let user = messages.as_array().unwrap().last().unwrap();
    assert_eq!(user["role"], "user");
    assert_eq!(
        user["content"][0],
        json!({"type": "text", "text": "what is this?"})
    );
    assert_eq!(
        image_parts(&mock, 0),
        [
            ("user image/png".to_string(), PNG.to_vec()),
            ("user image/jpeg".to_string(), JPEG.to_vec()),
        ]
    );
}

#[test]
fn a_provider_not_known_to_take_images_is_refused_before_any_request() {
    let mock = MockLlm::start(vec![Reply::text("unused")]);
    let project = project(&mock, false);
    let out = run_in(&project, &["run", "--image", "pic.png", "what is this?"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("not known to take images")
            && out.stderr.contains("vision = true")
            && out.stderr.contains("[providers.mock]"),
        "{out:?}"
    );
    assert_eq!(mock.request_count(), 0);
}

#[test]
fn a_file_that_is_no_image_or_is_missing_is_refused_with_exit_2() {
    let mock = MockLlm::start(vec![Reply::text("unused")]);
    let project = project(&mock, true);
    project.write("notes.png", "just text, named like a picture\n");
    let out = run_in(&project, &["run", "--image", "notes.png", "look"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("notes.png") && out.stderr.contains("not a PNG, JPEG, GIF or WebP"),
        "{out:?}"
    );
    let out = run_in(&project, &["run", "--image", "missing.png", "look"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("cannot read missing.png"), "{out:?}");
    assert_eq!(mock.request_count(), 0);
}

#[test]
fn read_of_a_png_shows_it_to_a_model_that_takes_images() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("read", json!({"path": "pic.png"})),
        Reply::text("a one-pixel image"),
    ]);
    let project = project(&mock, true);
    let out = run_in(&project, &["run", "what is in pic.png?"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let result = mock.last_tool_result(1);
    assert!(
        result.contains("pic.png: image/png image (70 bytes)"),
        "{result}"
    );
    // The tool message stays text; the picture follows it in a user message.
    assert_eq!(
        image_parts(&mock, 1),
        [("user image/png".to_string(), PNG.to_vec())]
    );
    let messages = mock.requests()[1].body["messages"].clone();
    let last = messages.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "user");
    assert!(
        last["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("tool call call_1"),
        "{last}"
    );
}

#[test]
fn read_of_a_png_without_vision_is_the_binary_file_notice() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("read", json!({"path": "pic.png"})),
        Reply::text("cannot see it"),
    ]);
    let project = project(&mock, false);
    let out = run_in(&project, &["run", "what is in pic.png?"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let result = mock.last_tool_result(1);
    assert!(
        result.contains(
            "pic.png: binary file (70 bytes; image/png image not shown: this model does not take images); read shows text files only"
        ),
        "{result}"
    );
    assert!(image_parts(&mock, 1).is_empty());
}

#[test]
fn a_session_with_an_image_continues_and_shows_a_notice_not_the_bytes() {
    let mock = MockLlm::start(vec![Reply::text("a dot"), Reply::text("still a dot")]);
    let project = project(&mock, true);
    let out = run_in(&project, &["run", "--image", "pic.png", "what is this?"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = run_in(&project, &["run", "--continue", "and its colour?"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    // The continued conversation still shows the model the picture.
    assert_eq!(
        image_parts(&mock, 1),
        [("user image/png".to_string(), PNG.to_vec())]
    );
    let id = only_session(&project);
    let out = run_in(&project, &["sessions", "show", &id]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout
            .contains("> what is this?\n> [image: image/png, 70 bytes]"),
        "{out:?}"
    );
    assert!(!out.stdout.contains(&STANDARD.encode(PNG)), "{out:?}");
}

#[test]
fn the_repl_sends_an_image_command_with_the_next_message() {
    let mock = MockLlm::start(vec![Reply::text("a dot")]);
    let project = project(&mock, true);
    let out = project.repl(&[], "/image pic.png\nwhat is this?\n");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr
            .contains("[image: image/png, 70 bytes] goes with your next message"),
        "{out:?}"
    );
    assert_eq!(
        image_parts(&mock, 0),
        [("user image/png".to_string(), PNG.to_vec())]
    );
    let text: Vec<Value> = mock.requests()[0].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"][0].clone())
        .collect();
    assert_eq!(text, [json!({"type": "text", "text": "what is this?"})]);
}

#[test]
fn replay_of_a_read_image_matches_with_and_without_vision() {
    for vision in [true, false] {
        let mock = MockLlm::start(vec![
            Reply::tool_call("read", json!({"path": "pic.png"})),
            Reply::text("done"),
        ]);
        let project = project(&mock, vision);
        let out = run_in(&project, &["run", "what is in pic.png?"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        let id = only_session(&project);
        // The replay sees the model as the recording did, so the result is the same.
        let out = run_in(&project, &["replay", &id]);
        assert_eq!(out.code, Some(0), "vision {vision}: {out:?}");
        assert!(out.stdout.contains("match"), "{out:?}");
    }
}

#[test]
fn an_agent_cli_provider_cannot_be_sent_images() {
    let mock = MockLlm::start(vec![Reply::text("unused")]);
    let project = project(&mock, true);
    let mut config = std::fs::read_to_string(project.config_file()).unwrap();
    config
        .push_str("\n[providers.cli]\nkind = \"agent-cli\"\ncommand = \"claude\"\nvision = true\n");
    project.write_config(&config);
    let out = run_in(
        &project,
        &["run", "--provider", "cli", "--image", "pic.png", "look"],
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("is an agent CLI") && out.stderr.contains("cannot be sent images"),
        "{out:?}"
    );
    assert_eq!(mock.request_count(), 0);
}
