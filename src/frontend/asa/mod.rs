//! The Cisco ASA (and PIX) front-end: `show running-config`. `parse` reads
//! the structure (interfaces, objects, access lists, bindings, routes,
//! inspection), `lower` gives it meaning in the policy model, `fix` writes
//! suggested entries back as ASA configuration.

pub mod fix;
pub mod lower;
pub mod parse;

use crate::diag::InputError;
use crate::model::{Format, Policy, Text};

/// Reads one ASA configuration into a policy, which keeps the text.
pub fn load(path: &str, text: Text) -> Result<Policy, InputError> {
    let cfg = parse::parse(&text);
    let lowered = lower::lower(path, &text, &cfg)?;
    Ok(lowered.into_policy(Format::CiscoAsa, path, text, false))
}

/// Whether a text looks like an ASA or PIX configuration.
pub fn detect(text: &str) -> bool {
    text.lines().map(str::trim_start).any(|l| {
        l.starts_with("ASA Version ")
            || l.starts_with("PIX Version ")
            || l.starts_with("nameif ")
            || l.starts_with("security-level ")
            || (l.starts_with("access-group ") && l.contains(" interface "))
            || (l.starts_with("access-list ")
                && (l.contains(" any4") || l.contains(" object ") || l.contains(" line ")))
            || l.starts_with("network-object ")
            || l.starts_with("clear configure access-list ")
            || l.starts_with("object network ")
    })
}
