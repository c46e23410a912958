//! `Secret`: an API key or token that is never printed in full.

use std::fmt;

/// A secret string. `Debug` and `Display` show a masked form (`sk-…abcd`); only
/// [`Secret::expose`] gives the value, for the one place that sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Call this only where it leaves the process (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A form safe to print: the first 3 and last 4 characters of a long secret, and
    /// nothing of a short one (where 7 characters would give most of it away).
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.is_empty() {
            return "(empty)".into();
        }
        if chars.len() < 16 {
            return "…".into();
        }
        let head: String = chars[..3].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}…{tail}")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.masked())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_secret_shows_only_its_ends() {
        let key = Secret::new("sk-1234567890abcdefabcd");
        assert_eq!(key.to_string(), "sk-…abcd");
        assert_eq!(format!("{key:?}"), "Secret(sk-…abcd)");
        assert_eq!(key.expose(), "sk-1234567890abcdefabcd");
    }

    #[test]
    fn short_secret_shows_nothing() {
        assert_eq!(Secret::new("hunter2").to_string(), "…");
    }
}
