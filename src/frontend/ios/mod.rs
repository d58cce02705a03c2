//! The Cisco IOS / IOS-XE front-end: `show running-config` and `show
//! access-lists` output. `parse` reads the structure (ACLs, object groups,
//! interfaces, routes), `lower` gives it meaning in the policy model, `fix`
//! writes suggested entries back as IOS configuration.

pub mod fix;
pub mod lower;
pub mod parse;

use crate::diag::InputError;
use crate::model::{Format, Policy, Text};

/// Reads one IOS configuration into a policy, which keeps the text.
pub fn load(path: &str, text: Text) -> Result<Policy, InputError> {
    let cfg = parse::parse(&text);
    let unbound = cfg.listing;
    let lowered = lower::lower(path, &text, &cfg)?;
    Ok(lowered.into_policy(Format::CiscoIos, path, text, unbound))
}

/// Whether a text looks like IOS configuration or `show access-lists` output.
pub fn detect(text: &str) -> bool {
    text.lines().map(str::trim_start).any(|l| {
        l.starts_with("ip access-list ")
            || l.starts_with("ipv6 access-list ")
            || (l.starts_with("access-list ")
                && l.split_whitespace()
                    .nth(1)
                    .is_some_and(|n| n.parse::<u32>().is_ok()))
            || l.starts_with("Extended IP access list ")
            || l.starts_with("Standard IP access list ")
            || l.starts_with("Reflexive IP access list ")
            || l.starts_with("IPv6 access list ")
            || l.starts_with("ipv4 access-list ")
            || l.starts_with("ip access-group ")
            || l.starts_with("object-group network ")
    })
}
