//! Vendor front-ends: each reads one export format into the policy model and
//! writes suggested rules back in that format. Nothing here knows Octalarm.

/// Why a nat chain is left out of a ruleset that tracks no connections: the
/// kernel tracks them in a namespace only once a rule needs it, and its nat
/// chains see only the first packets of tracked connections.
pub(crate) const UNTRACKED: &str = "no rule makes the kernel track connections (a conntrack or state match, a NAT statement), and nat chains see only packets of tracked connections";

pub mod asa;
pub mod cisco;
pub mod ios;
pub mod iptables;
pub mod nft;

use crate::diag::{Error, InputError};
use crate::model::{Format, Policy, Suggestion, Text};

/// What the site says of an export that its text cannot.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// nft named sets, as `FAMILY TABLE SET`, that hold the addresses of DNS
    /// names (a resolver keeps them filled): a lookup in one is a match by name.
    pub name_sets: std::collections::BTreeMap<String, Vec<String>>,
}

/// An export's bytes: read into memory, or mapped from its file (see
/// [`Text`]: a mapped export's pages can be given back once it is parsed).
pub enum Bytes {
    Read(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Bytes {
        Bytes::Read(v)
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Read(v) => v,
            Bytes::Mapped(m) => m,
        }
    }
}

/// Reads a file's bytes, detecting the format unless one is given. The policy
/// keeps the text (for quoting lines), so the bytes are taken, not copied.
pub fn load(path: &str, bytes: impl Into<Bytes>, format: Option<Format>) -> Result<Policy, Error> {
    load_with(path, bytes, format, &Options::default())
}

/// [`load`], with what the site says of the export.
pub fn load_with(
    path: &str,
    bytes: impl Into<Bytes>,
    format: Option<Format>,
    options: &Options,
) -> Result<Policy, Error> {
    let text = text(path, bytes.into())?;
    let format = match format {
        Some(f) => f,
        None => detect(path, &text)?,
    };
    let policy = match format {
        Format::Iptables => iptables::load(path, text)?,
        Format::Nft => nft::load_with(path, text, options)?,
        Format::NftJson => nft::load_json_with(path, text, options)?,
        Format::CiscoIos => ios::load(path, text)?,
        Format::CiscoAsa => asa::load(path, text)?,
    };
    // What is left of a mapped text is read again only for the lines a
    // report quotes.
    for f in &policy.files {
        f.text.release(0..f.text.len());
    }
    Ok(policy)
}

/// The text of an export's bytes, without a byte-order mark (an editor's,
/// on Windows, is no part of the export); an error where they are not text.
fn text(path: &str, bytes: Bytes) -> Result<Text, Error> {
    too_large(path, bytes.len())?;
    let start = if bytes.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    // UTF-8 is checked once, as the text is made (a 150 MB dump's check
    // takes 25 ms).
    let text = match bytes {
        Bytes::Read(mut v) => {
            v.drain(..start);
            String::from_utf8(v)
                .map_err(|e| {
                    let bad = e.utf8_error().valid_up_to();
                    not_text(path, e.as_bytes(), Some(bad))
                })?
                .into()
        }
        Bytes::Mapped(m) => Text::mapped(m, start)
            .map_err(|(e, m)| not_text(path, &m[start..], Some(e.valid_up_to())))?,
    };
    // `contains` on bytes is a vectorised search; most files have no NUL at all.
    if text.as_bytes().contains(&0) {
        return Err(not_text(path, text.as_bytes(), None));
    }
    Ok(text)
}

/// The error of a file longer than a span can point into.
fn too_large(path: &str, len: usize) -> Result<(), Error> {
    if len <= crate::model::MAX_TEXT {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{path}: {len} bytes is more than the 4 GiB octaverify reads in one file"
    )))
}

/// The error of bytes that are not text: a NUL byte, or bytes that are not
/// UTF-8 from `bad_utf8` on, whichever comes first.
fn not_text(path: &str, body: &[u8], bad_utf8: Option<usize>) -> Error {
    let nul = body.iter().position(|&b| b == 0);
    let good = bad_utf8
        .into_iter()
        .chain(nul)
        .min()
        .expect("a NUL or a bad byte");
    // Show the line up to the first bad byte, which is drawn as U+FFFD.
    let prefix = std::str::from_utf8(&body[..good]).expect("valid up to here");
    let shown = format!("{prefix}\u{FFFD}");
    let (message, expected) = if nul == Some(good) {
        (
            "binary data (a NUL byte): the input is not a text file".to_string(),
            "expected a text export such as iptables-save output",
        )
    } else {
        (
            format!("byte 0x{:02X} is not UTF-8 text", body[good]),
            "expected UTF-8 text (convert a Latin-1 file with iconv -f latin1 -t utf-8)",
        )
    };
    InputError::at(path, &shown, good, 1, message, expected).into()
}

/// The format of a text, from its content (the path only breaks a tie).
pub fn detect(path: &str, text: &str) -> Result<Format, Error> {
    if text.trim().is_empty() {
        return Err(InputError::at(
            path,
            text,
            0,
            0,
            "empty input",
            "expected a firewall export (iptables-save output, …)",
        )
        .into());
    }
    if nft::json::detect(text) {
        return Ok(Format::NftJson);
    }
    // iptables-save output opens with a table: said at once, where the
    // other formats' tests would read a large dump through.
    if iptables::opens_with_table(text) {
        return Ok(Format::Iptables);
    }
    // Before iptables: an ASA configuration starts with `: Saved`.
    if asa::detect(text) || (path.ends_with(".asa") && ios::detect(text)) {
        return Ok(Format::CiscoAsa);
    }
    if nft::detect(text) {
        return Ok(Format::Nft);
    }
    if iptables::detect(text) {
        return Ok(Format::Iptables);
    }
    if ios::detect(text) {
        return Ok(Format::CiscoIos);
    }
    let first = text.find(|c: char| !c.is_whitespace()).unwrap_or(0);
    Err(InputError::at(
        path,
        text,
        first,
        1,
        "cannot tell the format of this file",
        "expected iptables-save output, an nftables ruleset, nft -j JSON, or a Cisco IOS or ASA configuration (give --format to choose)",
    )
    .into())
}

/// Suggested rules in the policy's own syntax, written together so that
/// rules that go to one place do not claim the same number there.
pub fn write_fixes(policy: &Policy, suggestions: &[&Suggestion]) -> Vec<String> {
    match policy.format {
        Format::Iptables => suggestions
            .iter()
            .map(|s| iptables::fix::write(policy, s))
            .collect(),
        Format::Nft | Format::NftJson => suggestions
            .iter()
            .map(|s| nft::fix::write(policy, s))
            .collect(),
        Format::CiscoIos => ios::fix::write_all(policy, suggestions),
        Format::CiscoAsa => suggestions
            .iter()
            .map(|s| asa::fix::write(policy, s))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_longer_than_a_span_reaches_is_refused() {
        assert!(too_large("big.txt", crate::model::MAX_TEXT).is_ok());
        let Err(Error::Usage(m)) = too_large("big.txt", crate::model::MAX_TEXT + 1) else {
            panic!("a usage error");
        };
        assert!(m.starts_with("big.txt: 4294967296 bytes"), "{m}");
    }
}
