//! Front matter: the `---` block of `key: value` lines at the top of a Markdown file
//! (SKILL.md, custom commands), the small YAML subset those files use. Readers choose how
//! strict to be: the problems are listed, not raised.

/// A file's front matter and what follows it.
#[derive(Debug, PartialEq, Eq)]
pub struct FrontMatter<'a> {
    /// `key: value` pairs in order, values trimmed and without matching quotes.
    pub fields: Vec<Field<'a>>,
    /// The text after the block (the whole text when there is no block).
    pub body: &'a str,
    /// Lines that are not `key: value`, and a block without its closing `---`, each as a
    /// message naming the line: errors for a strict reader, skipped by a lenient one.
    pub problems: Vec<String>,
}

/// One `key: value` line.
#[derive(Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// Its line number in the file (the opening `---` is line 1).
    pub line: usize,
    pub key: &'a str,
    pub value: String,
}

/// Splits `text` into its front matter and body. A block starts with a first line of
/// `---` (after an optional byte-order mark) and ends at the next `---` line; empty lines
/// and `#` comments in it are skipped.
pub fn read(text: &str) -> FrontMatter<'_> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(block) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return FrontMatter {
            fields: Vec::new(),
            body: text,
            problems: Vec::new(),
        };
    };
    let mut fields = Vec::new();
    let mut problems = Vec::new();
    let mut consumed = 0;
    let mut closed = false;
    for (index, raw) in block.split_inclusive('\n').enumerate() {
        consumed += raw.len();
        let line = raw.trim();
        let number = index + 2;
        if line == "---" {
            closed = true;
            break;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((key, value)) => fields.push(Field {
                line: number,
                key: key.trim(),
                value: unquote(value.trim()).to_string(),
            }),
            None => problems.push(format!(
                "line {number}: front matter lines are `key: value`"
            )),
        }
    }
    if !closed {
        problems.push("the front matter that starts with `---` has no closing `---` line".into());
    }
    FrontMatter {
        fields,
        body: block[consumed..].trim_start_matches(['\n', '\r']),
        problems,
    }
}

/// `"text"` or `'text'` without its quotes.
fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_body_are_split() {
        let read = read(
            "\u{feff}---\nname: \"x\"\n# a comment\n\ndescription: 'it: does y'\n---\n\nBody\n",
        );
        assert_eq!(
            read.fields,
            [
                Field {
                    line: 2,
                    key: "name",
                    value: "x".into()
                },
                Field {
                    line: 5,
                    key: "description",
                    value: "it: does y".into()
                }
            ]
        );
        assert_eq!(read.body, "Body\n");
        assert!(read.problems.is_empty());
    }

    #[test]
    fn without_a_block_the_whole_text_is_the_body() {
        let read = read("# Title\n---\n");
        assert!(read.fields.is_empty() && read.problems.is_empty());
        assert_eq!(read.body, "# Title\n---\n");
    }

    #[test]
    fn problems_name_their_line_and_the_rest_is_still_read() {
        let read = read("---\r\nname: x\r\n  a continuation\r\n");
        assert_eq!(read.fields.len(), 1);
        assert_eq!(
            read.problems,
            [
                "line 3: front matter lines are `key: value`",
                "the front matter that starts with `---` has no closing `---` line"
            ]
        );
    }
}
