//! Matching what a plugin asks to reach against the patterns its manifest declares: one
//! simple command against `commands`, a host against `hosts`. Pure functions, shared by
//! the manifest checks before the gate (`plugin::reach`) and the `process` and `http`
//! imports during the call (`host_api`), so neither side depends on the other.

use super::rule::wildcard_match;
use super::shell::{self, CommandLine};

/// Whether plugin `plugin`, declaring `patterns`, may run `command`: a single simple
/// command with nothing that runs other code (`git status; rm -rf ~` or
/// `git status $(rm -rf ~)` must not pass for `git status*`), whose text after quote
/// removal matches one of them.
pub fn check_command(plugin: &str, patterns: &[String], command: &str) -> Result<(), String> {
    let command = command.trim();
    let line = shell::parse(command);
    let simple = one_command(&line).map_err(|why| {
        format!(
            "refused: plugin `{plugin}` may run only the commands it declares, one at a time, \
             and `{command}` is not one simple command: {why}"
        )
    })?;
    let text = simple.text();
    if patterns.iter().any(|p| wildcard_match(p.trim(), &text)) {
        return Ok(());
    }
    Err(format!(
        "refused: plugin `{plugin}` declares that it runs only {}; `{command}` is not one of them",
        listed(patterns)
    ))
}

/// The one simple command of `line`, or why it is not one.
pub fn one_command(line: &CommandLine) -> Result<&shell::SimpleCommand, String> {
    if let Some(construct) = line.first_construct() {
        return Err(construct.to_string());
    }
    match line.commands.as_slice() {
        [only] => Ok(only),
        [] => Err("it holds no command".to_string()),
        more => Err(format!("it holds {} commands", more.len())),
    }
}

/// Whether plugin `plugin`, declaring `patterns`, may fetch from `host`.
pub fn check_host(plugin: &str, patterns: &[String], host: &str) -> Result<(), String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if patterns.iter().any(|p| host_matches(p, host)) {
        return Ok(());
    }
    Err(format!(
        "refused: plugin `{plugin}` declares that it fetches only from {}; {host} is not one of them",
        listed(patterns)
    ))
}

/// `example.com` matches itself; `*.example.com` matches its subdomains and itself.
/// Case does not matter.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim().to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(domain) => host == domain || host.ends_with(&format!(".{domain}")),
        None => host == pattern,
    }
}

/// A host name, `*.` and a domain, or an IP address (IPv6 in brackets or not).
pub fn is_host_pattern(pattern: &str) -> bool {
    let bare = pattern.strip_prefix("*.").unwrap_or(pattern);
    let unbracketed = bare.trim_start_matches('[').trim_end_matches(']');
    if unbracketed.parse::<std::net::IpAddr>().is_ok() {
        return !pattern.starts_with('*');
    }
    !bare.is_empty()
        && bare.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `` `a`, `b` `` for a message.
pub fn listed(patterns: &[String]) -> String {
    patterns
        .iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands() -> Vec<String> {
        vec!["git status".into(), "git log *".into()]
    }

    fn hosts() -> Vec<String> {
        vec!["*.example.org".into(), "api.example.com".into()]
    }

    #[test]
    fn a_declared_command_runs_and_others_are_refused_with_the_list() {
        let patterns = commands();
        assert!(check_command("git-tools", &patterns, "git status").is_ok());
        assert!(check_command("git-tools", &patterns, "git log --oneline -5").is_ok());
        assert!(check_command("git-tools", &patterns, "git log \"--format=%h %s\"").is_ok());
        let refused = check_command("git-tools", &patterns, "rm -rf /").unwrap_err();
        assert!(
            refused.contains("`git status`, `git log *`") && refused.contains("`rm -rf /`"),
            "{refused}"
        );
    }

    #[test]
    fn a_declared_prefix_cannot_smuggle_a_second_command() {
        let patterns = commands();
        for sneaky in [
            "git log x; rm -rf ~",
            "git log x && curl evil",
            "git log x | sh",
            "git log x > ~/.bashrc",
            "git log $(rm -rf ~)",
            "git log `rm -rf ~`",
            "git log x\nrm -rf ~",
            "git log x & sleep 100",
            "git log ${Y:=$'\\x24'(touch P)}${Y@P}",
            "git log x <(rm -rf ~)",
            "{ git log x; rm -rf ~; }",
            "git log x > ~/.bashrc",
            "X=1 git log x",
            "eval git log x",
        ] {
            let refused = check_command("git-tools", &patterns, sneaky);
            assert!(refused.is_err(), "{sneaky:?} passed");
        }
    }

    #[test]
    fn declared_hosts_match_exactly_or_by_subdomain() {
        let patterns = hosts();
        assert!(check_host("p", &patterns, "api.example.com").is_ok());
        assert!(check_host("p", &patterns, "API.Example.com").is_ok());
        assert!(check_host("p", &patterns, "docs.example.org").is_ok());
        assert!(check_host("p", &patterns, "example.org").is_ok());
        for other in [
            "example.com",
            "evil-example.org",
            "api.example.com.evil",
            "127.0.0.1",
        ] {
            assert!(check_host("p", &patterns, other).is_err(), "{other} passed");
        }
    }
}
