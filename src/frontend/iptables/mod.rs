//! The iptables-save / iptables-restore front-end: `parse` reads the text into
//! the `ast`, `lower` gives it meaning in the policy model, `fix` writes
//! suggested rules back in iptables syntax.

pub mod ast;
pub mod fix;
pub mod lower;
pub mod parse;

use crate::diag::InputError;
use crate::model::{Policy, SourceFile, Text};

/// Reads one iptables-save file into a policy, which keeps the text.
pub fn load(path: &str, text: Text) -> Result<Policy, InputError> {
    let mut policy = lower::lower(path, &text)?;
    policy.files.push(SourceFile {
        path: path.to_string(),
        text,
    });
    Ok(policy)
}

/// Whether the first line that is not blank or a comment opens a table
/// (`*filter`), as iptables-save output does and no other format's first
/// line can.
pub fn opens_with_table(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| {
            l.len() > 1
                && l.starts_with('*')
                && l[1..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

/// Whether a text looks like iptables-save output.
pub fn detect(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .any(|l| l.starts_with('*') || l.starts_with(":") || l.starts_with("-A ") || l == "COMMIT")
}
