//! Errors about the user's input, located to the column and drawn with the
//! offending line and a caret, so that a bad line is fixed from the message alone.

use annotate_snippets::{Level, Renderer, Snippet};
use std::fmt;

/// A problem at one place of an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub path: String,
    /// 1-based line and column (in characters of the line).
    pub line: u32,
    pub col: u32,
    /// The whole offending line, without its line end.
    pub line_text: String,
    /// Byte range of the offending part within `line_text`.
    pub range: std::ops::Range<usize>,
    /// What is wrong.
    pub message: String,
    /// What was expected instead, shown under the caret.
    pub expected: String,
}

impl InputError {
    /// An error at byte offset `at` (length `len`) of `text`.
    pub fn at(
        path: &str,
        text: &str,
        at: usize,
        len: usize,
        message: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        let mut at = at.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        // Control characters would garble a terminal; show them as `?` (one byte each, so ranges hold).
        let line_text: String = text[line_start..line_end]
            .chars()
            .map(|c| {
                if c.is_ascii_control() && c != '\t' {
                    '?'
                } else {
                    c
                }
            })
            .collect();
        let line = text[..line_start].bytes().filter(|&b| b == b'\n').count() as u32 + 1;
        let start = at - line_start;
        let mut end = (start + len.max(1)).min(line_text.len()).max(start);
        while !line_text.is_char_boundary(end) {
            end += 1;
        }
        let col = line_text[..start].chars().count() as u32 + 1;
        InputError {
            path: path.to_string(),
            line,
            col,
            line_text,
            range: start..end,
            message: message.into(),
            expected: expected.into(),
        }
    }

    /// The diagnostic as people read it; `color` for terminals.
    pub fn render(&self, color: bool) -> String {
        if self.line_text.trim().is_empty() {
            // The renderer draws no caret under a blank line, so draw it here.
            let n = self.line.to_string();
            let pad = " ".repeat(n.len());
            return format!(
                "error: {}\n{pad}--> {}:{}:{}\n{pad} |\n{n} | {}\n{pad} | {}^ {}\n",
                self.message,
                self.path,
                self.line,
                self.col,
                self.line_text,
                " ".repeat(self.col as usize - 1),
                self.expected
            );
        }
        // A caret needs something to point at: past the end of a line, point
        // at a space after it.
        let mut source = self.line_text.clone();
        let mut range = self.range.clone();
        if range.start >= source.len() {
            source.push(' ');
            range = source.len() - 1..source.len();
        } else if range.is_empty() {
            range.end = range.start + 1;
        }
        let msg = Level::Error.title(&self.message).snippet(
            Snippet::source(&source)
                .line_start(self.line as usize)
                .origin(&self.path)
                .annotation(Level::Error.span(range).label(&self.expected)),
        );
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        renderer.render(msg).to_string()
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {} ({})",
            self.path, self.line, self.col, self.message, self.expected
        )
    }
}

impl std::error::Error for InputError {}

/// Everything that stops a run before a verdict: exit code 2.
#[derive(Debug)]
pub enum Error {
    Input(Box<InputError>),
    /// A wrong flag combination, a missing parameter, an unreadable file.
    Usage(String),
}

impl From<InputError> for Error {
    fn from(e: InputError) -> Self {
        Error::Input(Box::new(e))
    }
}

impl Error {
    pub fn render(&self, color: bool) -> String {
        match self {
            Error::Input(e) => e.render(color),
            Error::Usage(m) => format!("error: {m}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(e) => e.fmt(f),
            Error::Usage(m) => f.write_str(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_points_at_the_column() {
        let text = "*filter\n-A FORWARD --bogus 1 -j ACCEPT\nCOMMIT\n";
        let at = text.find("--bogus").unwrap();
        let e = InputError::at(
            "r.txt",
            text,
            at,
            7,
            "unknown option `--bogus`",
            "expected a match or target option",
        );
        assert_eq!((e.line, e.col), (2, 12));
        let out = e.render(false);
        assert!(out.contains("r.txt:2:12"), "{out}");
        assert!(out.contains("^^^^^^^"), "{out}");
    }
}
