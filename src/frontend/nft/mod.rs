//! The nftables front-end: `nft list ruleset` output and nftables.conf files
//! (`lex` → `parse`, which replays commands and reads includes → `lower`),
//! and fixes written as nft commands (`fix`).

pub mod fix;
pub mod json;
pub mod lex;
pub mod lower;
pub mod parse;

use super::Options;
use crate::diag::InputError;
use crate::model::{Format, Policy, Text};

/// Reads one nftables file (and what it includes) into a policy.
pub fn load(path: &str, text: Text) -> Result<Policy, InputError> {
    load_with(path, text, &Options::default())
}

/// [`load`], with the sets the site says hold the addresses of DNS names.
pub fn load_with(path: &str, text: Text, options: &Options) -> Result<Policy, InputError> {
    finish(
        parse::load_all(path, text)?,
        Format::Nft,
        Vec::new(),
        options,
    )
}

/// Reads `nft -j list ruleset` output into a policy.
pub fn load_json(path: &str, text: Text) -> Result<Policy, InputError> {
    load_json_with(path, text, &Options::default())
}

/// [`load_json`], with the sets the site says hold the addresses of DNS names.
pub fn load_json_with(path: &str, text: Text, options: &Options) -> Result<Policy, InputError> {
    let script = json::script(path, &text)?;
    let src = parse::Sources::from_json(path, text, script.text, script.origins);
    finish(src, Format::NftJson, script.notes, options)
}

fn finish(
    src: parse::Sources,
    format: Format,
    mut notes: Vec<String>,
    options: &Options,
) -> Result<Policy, InputError> {
    let lower::Lowered {
        chains,
        families,
        notes: lowered,
        dns_addresses,
    } = {
        let mut b = parse::Builder::default();
        b.file(&src, src.entry())?;
        lower::lower(&src, &b.tables, &options.name_sets)?
    };
    notes.extend(lowered);
    let mut policy = Policy {
        format,
        files: src.files,
        chains,
        families,
        notes,
        topology: None,
        unbound: false,
        dns_addresses,
        roots: Default::default(),
    };
    if let Some(flaw) = crate::graph::flaw(&policy) {
        let span = policy.rule(flaw.rule).span;
        return Err(policy.error_at(span, flaw.message, flaw.expected));
    }
    crate::stages::settle(&mut policy);
    Ok(policy)
}

/// Whether a text looks like nftables syntax.
pub fn detect(text: &str) -> bool {
    text.lines().map(str::trim_start).any(|l| {
        [
            "table ",
            "define ",
            "include ",
            "flush ruleset",
            "add table ",
            "add rule ",
            "add chain ",
        ]
        .iter()
        .any(|k| l.starts_with(k))
    })
}
