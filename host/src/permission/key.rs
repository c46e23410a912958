//! The name a permission is decided under: a tool's `permission` in its manifest, the
//! subject of `[permission]` defaults and rules, an agent profile's read-only set. conch
//! gives meaning to a few keys (constants here); a plugin's manifest may name its own, so
//! the type is open, and a key is checked once, when it is read.

use std::borrow::Cow;
use std::fmt;

/// A permission key, e.g. `read`, `edit`, `bash`, `webfetch`, or one a plugin declares.
/// Keys conch knows are held without allocating, so cloning one per call costs nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PermissionKey(Cow<'static, str>);

/// Why a text is not a permission key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKey {
    #[error("a permission key is empty")]
    Empty,
    #[error("permission key {0:?} has spaces or control characters")]
    Blank(String),
}

impl PermissionKey {
    /// Reading files (default allow).
    pub const READ: PermissionKey = PermissionKey::known("read");
    /// Changing files (default ask; `--allow-edit`).
    pub const EDIT: PermissionKey = PermissionKey::known("edit");
    /// Running commands (default ask; `--no-bash`), decided per parsed command.
    pub const BASH: PermissionKey = PermissionKey::known("bash");
    /// Fetching URLs (default ask).
    pub const WEBFETCH: PermissionKey = PermissionKey::known("webfetch");
    /// The session's task list (default allow).
    pub const TODO: PermissionKey = PermissionKey::known("todo");
    /// A question to the user (default allow).
    pub const QUESTION: PermissionKey = PermissionKey::known("question");
    /// Loading a skill (default allow).
    pub const SKILL: PermissionKey = PermissionKey::known("skill");
    /// Calling an MCP server's tool (default ask).
    pub const MCP: PermissionKey = PermissionKey::known("mcp");
    /// Asking the language servers about a path (default allow: it reads, as `read` does).
    pub const LSP: PermissionKey = PermissionKey::known("lsp");
    /// An agent CLI's tool conch has no key of its own for (default ask).
    pub const REMOTE: PermissionKey = PermissionKey::known("remote");

    /// Every key conch gives a meaning to.
    const KNOWN: [PermissionKey; 10] = [
        PermissionKey::READ,
        PermissionKey::EDIT,
        PermissionKey::BASH,
        PermissionKey::WEBFETCH,
        PermissionKey::TODO,
        PermissionKey::QUESTION,
        PermissionKey::SKILL,
        PermissionKey::MCP,
        PermissionKey::LSP,
        PermissionKey::REMOTE,
    ];

    const fn known(name: &'static str) -> Self {
        PermissionKey(Cow::Borrowed(name))
    }

    /// `name` as a key: any non-empty text without whitespace or control characters.
    pub fn parse(name: &str) -> Result<Self, InvalidKey> {
        if let Some(known) = Self::KNOWN.iter().find(|k| k.as_str() == name) {
            return Ok(known.clone());
        }
        if name.is_empty() {
            return Err(InvalidKey::Empty);
        }
        if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidKey::Blank(name.to_string()));
        }
        Ok(PermissionKey(Cow::Owned(name.to_string())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PermissionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Ordered by name, so lists and tables of keys read alphabetically.
impl Ord for PermissionKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for PermissionKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Tables of keys can be looked up by name: equality, order and hash are the name's.
impl std::borrow::Borrow<str> for PermissionKey {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for PermissionKey {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for PermissionKey {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::str::FromStr for PermissionKey {
    type Err = InvalidKey;

    fn from_str(name: &str) -> Result<Self, InvalidKey> {
        PermissionKey::parse(name)
    }
}

impl serde::Serialize for PermissionKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for PermissionKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <Cow<'de, str>>::deserialize(deserializer)?;
        PermissionKey::parse(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_parse_to_their_constants_and_others_stay_open() {
        assert_eq!(PermissionKey::parse("bash"), Ok(PermissionKey::BASH));
        assert!(matches!(
            PermissionKey::parse("edit").map(|k| k.0),
            Ok(Cow::Borrowed(_))
        ));
        let own = PermissionKey::parse("deploy").expect("a plugin's own key");
        assert_eq!(own, "deploy");
        assert_ne!(own, PermissionKey::BASH);
    }

    #[test]
    fn empty_or_blank_keys_are_refused_when_read() {
        assert_eq!(PermissionKey::parse(""), Err(InvalidKey::Empty));
        assert!(PermissionKey::parse("my key").is_err());
        assert!(PermissionKey::parse("bash\n").is_err());
        let manifest: Result<PermissionKey, _> = serde_json::from_str("\"\"");
        assert!(manifest.is_err());
    }

    #[test]
    fn keys_sort_by_name() {
        let mut keys = [
            PermissionKey::WEBFETCH,
            PermissionKey::parse("deploy").unwrap(),
            PermissionKey::BASH,
        ];
        keys.sort();
        let names: Vec<&str> = keys.iter().map(PermissionKey::as_str).collect();
        assert_eq!(names, ["bash", "deploy", "webfetch"]);
    }
}
