//! Tokens of the nftables language. Words keep addresses, prefixes, ranges and
//! IPv6 colons whole (`10.0.0.0/8`, `2001:db8::1`, `1024-65535`); a lone `:`,
//! `.`, braces, brackets and operators stand alone; `#` starts a comment; a
//! line end is a token, since it ends a rule.

use crate::diag::InputError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Word,
    /// A double-quoted string, quotes included in `text`.
    Str,
    /// `{ } ( ) [ ] ; , : . @ $ = == != < > <= >= & | ^ !`
    Punct,
    Newline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub kind: Kind,
    pub text: &'a str,
    /// Byte offset in its file, and the file's index among those loaded.
    pub at: usize,
    pub file: usize,
}

impl Token<'_> {
    pub fn is(&self, s: &str) -> bool {
        self.kind != Kind::Str && self.text == s
    }

    /// The text without quotes, for strings.
    pub fn unquoted(&self) -> &str {
        if self.kind == Kind::Str {
            &self.text[1..self.text.len() - 1]
        } else {
            self.text
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'/' | b'-' | b'*' | b'%' | b'+' | b'~')
}

/// Splits one file into tokens.
pub fn tokens<'a>(path: &str, text: &'a str, file: usize) -> Result<Vec<Token<'a>>, InputError> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(text.len() / 4);
    let mut i = 0;
    let tok = |kind, s: usize, e: usize| Token {
        kind,
        text: &text[s..e],
        at: s,
        file,
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                out.push(tok(Kind::Newline, i, i + 1));
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            // A line continuation joins the next line; a stray escape (`\"` in
            // dumped test files) stands for what follows it.
            b'\\' => {
                let rest = &b[i + 1..];
                let blanks = rest
                    .iter()
                    .take_while(|&&c| c == b' ' || c == b'\t' || c == b'\r')
                    .count();
                i += 1;
                if rest.get(blanks) == Some(&b'\n') {
                    i += blanks + 1;
                }
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                let s = i;
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += 1;
                }
                if i >= b.len() || b[i] != b'"' {
                    return Err(InputError::at(
                        path,
                        text,
                        s,
                        i - s,
                        "unterminated string",
                        "expected a closing \"",
                    ));
                }
                i += 1;
                out.push(tok(Kind::Str, s, i));
            }
            b'=' | b'!' | b'<' | b'>' if b.get(i + 1) == Some(&b'=') => {
                out.push(tok(Kind::Punct, i, i + 2));
                i += 2;
            }
            b'{' | b'}' | b'(' | b')' | b'[' | b']' | b';' | b',' | b'@' | b'$' | b'=' | b'<'
            | b'>' | b'&' | b'|' | b'^' | b'!' => {
                out.push(tok(Kind::Punct, i, i + 1));
                i += 1;
            }
            b':' | b'.' => {
                // A lone `:` (map key : value) or ` . ` (concatenation); else part of a word.
                let next_is_word = b
                    .get(i + 1)
                    .is_some_and(|&n| is_word_byte(n) || n == b':' || n == b'.');
                if next_is_word {
                    let s = i;
                    i = word_end(b, i);
                    out.push(tok(Kind::Word, s, i));
                } else {
                    out.push(tok(Kind::Punct, i, i + 1));
                    i += 1;
                }
            }
            _ if is_word_byte(c) => {
                let s = i;
                i = word_end(b, i);
                out.push(tok(Kind::Word, s, i));
            }
            _ => {
                let ch = text[i..].chars().next().expect("in bounds");
                return Err(InputError::at(
                    path,
                    text,
                    i,
                    ch.len_utf8(),
                    format!("unexpected character `{ch}`"),
                    "expected nftables syntax",
                ));
            }
        }
    }
    Ok(out)
}

/// The end of a word starting at `i`: word bytes, with `:` and `.` inside
/// (addresses) but not a `:` that ends it (`80:` before a verdict).
fn word_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        let c = b[i];
        if is_word_byte(c) {
            i += 1;
        } else if c == b'.' || c == b':' {
            match b.get(i + 1) {
                Some(&n) if is_word_byte(n) || n == b':' || n == b'.' => i += 1,
                // The second colon of a trailing `::` (an IPv6 prefix such as `fe22::`).
                _ if c == b':' && i > 0 && b[i - 1] == b':' => i += 1,
                _ => break,
            }
        } else {
            break;
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<&str> {
        tokens("t", s, 0)
            .unwrap()
            .iter()
            .filter(|t| t.kind != Kind::Newline)
            .map(|t| t.text)
            .collect()
    }

    #[test]
    fn addresses_ranges_and_maps() {
        assert_eq!(
            words("ip saddr 10.0.0.0/8 tcp dport 1024-65535 accept"),
            [
                "ip",
                "saddr",
                "10.0.0.0/8",
                "tcp",
                "dport",
                "1024-65535",
                "accept"
            ]
        );
        assert_eq!(
            words("ip6 daddr 2001:db8::1 drop"),
            ["ip6", "daddr", "2001:db8::1", "drop"]
        );
        assert_eq!(
            words("tcp dport vmap { 22 : accept, 80 : drop }"),
            [
                "tcp", "dport", "vmap", "{", "22", ":", "accept", ",", "80", ":", "drop", "}"
            ]
        );
        assert_eq!(
            words("ip saddr . tcp dport { 1.2.3.4 . 22 }"),
            [
                "ip", "saddr", ".", "tcp", "dport", "{", "1.2.3.4", ".", "22", "}"
            ]
        );
        assert_eq!(
            words("iifname \"eth*\" ct state != established # c"),
            ["iifname", "\"eth*\"", "ct", "state", "!=", "established"]
        );
        assert_eq!(
            words("ip6 saddr ::/0 @blocked $lan"),
            ["ip6", "saddr", "::/0", "@", "blocked", "$", "lan"]
        );
    }
}
