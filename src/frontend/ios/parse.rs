//! The structure of an IOS / IOS-XE configuration (`show running-config`) or
//! of `show access-lists` output: access lists and their entries, object
//! groups, interfaces with their addresses and bindings, static routes.
//! Lines of any other context (routing protocols, lines, crypto, …) are
//! skipped with their indented block; every line of an ACL or object group
//! is kept for `lower` to understand or refuse.

use crate::frontend::cisco::lines;
pub use crate::frontend::cisco::{Line, Word};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclKind {
    Standard,
    Extended,
    Ipv6,
    /// `ipv6 access-list standard`: sources only.
    Ipv6Standard,
}

/// An access list: where it is declared, and its entries in file order
/// (sequence numbers order them in `lower`).
#[derive(Debug, Clone)]
pub struct Acl<'a> {
    pub name: &'a str,
    pub kind: AclKind,
    pub header: Line<'a>,
    pub entries: Vec<Line<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    Network,
    Service,
    /// `object-group port` / `object-group ip port`: port ranges.
    Port,
    /// `object-group protocol`: protocols.
    Protocol,
}

#[derive(Debug, Clone)]
pub struct Group<'a> {
    pub name: Word<'a>,
    pub kind: GroupKind,
    pub members: Vec<Line<'a>>,
}

/// An ACL bound to an interface.
#[derive(Debug, Clone)]
pub struct Binding<'a> {
    pub acl: Word<'a>,
    pub inbound: bool,
    pub line: Line<'a>,
}

#[derive(Debug, Clone)]
pub struct Interface<'a> {
    pub name: Word<'a>,
    /// `ip address` / `ipv6 address` lines: address and mask words.
    pub addresses: Vec<Line<'a>>,
    pub bindings: Vec<Binding<'a>>,
    pub shutdown: bool,
    /// `ip nat inside|outside`.
    pub nat: Option<&'a str>,
}

#[derive(Debug, Clone, Default)]
pub struct Config<'a> {
    pub acls: Vec<Acl<'a>>,
    pub groups: Vec<Group<'a>>,
    pub interfaces: Vec<Interface<'a>>,
    /// `ip route …` lines.
    pub routes: Vec<Line<'a>>,
    /// `ip nat inside source …` lines: source NAT happens.
    pub nat: Vec<Line<'a>>,
    /// Whether the text is `show access-lists` output (no bindings).
    pub listing: bool,
}

/// The block a line belongs to.
enum Block {
    None,
    Skip,
    Acl(usize),
    Group(usize),
    Interface(usize),
}

/// Reads the structure of a configuration.
pub fn parse(text: &str) -> Config<'_> {
    let mut cfg = Config::default();
    let mut block = Block::None;
    for (indented, line) in lines(text) {
        let w: Vec<&str> = line.words.iter().map(|w| w.text).collect();
        // `show access-lists` headers: `Extended IP access list 101`.
        if let Some(kind) = listing_header(&w) {
            let name = line.words.last().expect("a header has a name");
            cfg.listing = true;
            block = Block::Acl(acl_index(&mut cfg, name.text, kind, &line));
            continue;
        }
        if indented || (cfg.listing && matches!(block, Block::Acl(_)) && starts_entry(&w)) {
            match block {
                Block::Acl(i) => cfg.acls[i].entries.push(line),
                Block::Group(i) => cfg.groups[i].members.push(line),
                Block::Interface(i) => interface_line(&mut cfg.interfaces[i], &w, line),
                Block::None | Block::Skip => {}
            }
            continue;
        }
        block = match w.as_slice() {
            ["access-list", name, rest @ ..] if name.parse::<u32>().is_ok() => {
                let n: u32 = name.parse().expect("checked");
                // MAC, protocol-type and other non-IP lists are skipped.
                if let Some(kind) = numbered_kind(n) {
                    let i = acl_index(&mut cfg, line.words[1].text, kind, &line);
                    if !rest.is_empty() {
                        // The entry is the line after `access-list N`.
                        let mut entry = line.clone();
                        entry.words.drain(..2);
                        entry.start = entry.words[0].at;
                        cfg.acls[i].entries.push(entry);
                    }
                }
                Block::None
            }
            ["ip", "access-list", kind @ ("standard" | "extended"), _, ..] => {
                let kind = if *kind == "standard" {
                    AclKind::Standard
                } else {
                    AclKind::Extended
                };
                Block::Acl(acl_index(&mut cfg, line.words[3].text, kind, &line))
            }
            // IOS-XR and NX-OS name their lists without a kind.
            ["ipv4" | "ip", "access-list", name] if !matches!(*name, "logging" | "log-update") => {
                Block::Acl(acl_index(
                    &mut cfg,
                    line.words[2].text,
                    AclKind::Extended,
                    &line,
                ))
            }
            [
                "ipv6",
                "access-list",
                kind @ ("standard" | "extended"),
                _,
                ..,
            ] => {
                let kind = if *kind == "standard" {
                    AclKind::Ipv6Standard
                } else {
                    AclKind::Ipv6
                };
                Block::Acl(acl_index(&mut cfg, line.words[3].text, kind, &line))
            }
            ["ipv6", "access-list", _, ..] => Block::Acl(acl_index(
                &mut cfg,
                line.words[2].text,
                AclKind::Ipv6,
                &line,
            )),
            // `access-list NAME extended|standard ENTRY`: a named list a line at a time.
            ["access-list", _, kind @ ("extended" | "standard"), _, ..] => {
                let kind = if *kind == "standard" {
                    AclKind::Standard
                } else {
                    AclKind::Extended
                };
                let i = acl_index(&mut cfg, line.words[1].text, kind, &line);
                let mut entry = line.clone();
                entry.words.drain(..3);
                entry.start = entry.words[0].at;
                cfg.acls[i].entries.push(entry);
                Block::None
            }
            // Renumbering, kept in the list's entries where it happened:
            // `resequence START STEP`.
            ["ip", "access-list", "resequence", name, _, _] => {
                if let Some(i) = cfg.acls.iter().position(|a| a.name == *name) {
                    let mut marker = line.clone();
                    marker.words = vec![line.words[2], line.words[4], line.words[5]];
                    cfg.acls[i].entries.push(marker);
                }
                Block::None
            }
            // A list removed before it is written again.
            [
                "no",
                "ip" | "ipv6",
                "access-list",
                "standard" | "extended",
                name,
            ]
            | ["no", "ipv6", "access-list", name]
            | ["no", "access-list", name] => {
                cfg.acls.retain(|a| a.name != *name);
                Block::None
            }
            ["object-group", rest @ ..] if group_kind(rest).is_some() => {
                let (kind, name) = group_kind(rest).expect("checked");
                let name = line.words[1 + name];
                // A group written again gains the new members.
                match cfg.groups.iter().position(|g| g.name.text == name.text) {
                    Some(i) => Block::Group(i),
                    None => {
                        cfg.groups.push(Group {
                            name,
                            kind,
                            members: Vec::new(),
                        });
                        Block::Group(cfg.groups.len() - 1)
                    }
                }
            }
            ["interface", _, ..] => {
                cfg.interfaces.push(Interface {
                    name: line.words[1],
                    addresses: Vec::new(),
                    bindings: Vec::new(),
                    shutdown: false,
                    nat: None,
                });
                Block::Interface(cfg.interfaces.len() - 1)
            }
            ["ip", "route", ..] => {
                cfg.routes.push(line);
                Block::None
            }
            ["ip", "nat", "inside" | "outside", "source", ..] => {
                cfg.nat.push(line);
                Block::None
            }
            _ => Block::Skip,
        };
    }
    cfg
}

/// The kind of an `object-group` line and the index of its name among the
/// words after `object-group`.
fn group_kind(w: &[&str]) -> Option<(GroupKind, usize)> {
    Some(match w {
        ["network", "ipv4" | "ipv6", _] => (GroupKind::Network, 2),
        ["network", _] => (GroupKind::Network, 1),
        ["service", _] => (GroupKind::Service, 1),
        ["port", _] => (GroupKind::Port, 1),
        ["ip", "port", _] => (GroupKind::Port, 2),
        ["protocol", _] => (GroupKind::Protocol, 1),
        _ => return None,
    })
}

/// The kind of a `show access-lists` header, if the line is one.
fn listing_header(w: &[&str]) -> Option<AclKind> {
    match w {
        ["Standard", "IP", "access", "list", _] => Some(AclKind::Standard),
        ["Extended", "IP", "access", "list", _] => Some(AclKind::Extended),
        ["Reflexive", "IP", "access", "list", _] => Some(AclKind::Extended),
        ["IPv6", "access", "list", _] => Some(AclKind::Ipv6),
        _ => None,
    }
}

/// Whether a line of `show access-lists` output is an entry (`10 permit …`).
fn starts_entry(w: &[&str]) -> bool {
    match w {
        [seq, action, ..] if seq.parse::<u32>().is_ok() => {
            matches!(
                *action,
                "permit" | "deny" | "remark" | "evaluate" | "dynamic"
            )
        }
        [action, ..] => matches!(*action, "permit" | "deny"),
        [] => false,
    }
}

/// Numbered lists: 1–99 and 1300–1999 standard, 100–199 and 2000–2699 extended.
fn numbered_kind(n: u32) -> Option<AclKind> {
    match n {
        1..=99 | 1300..=1999 => Some(AclKind::Standard),
        100..=199 | 2000..=2699 => Some(AclKind::Extended),
        _ => None,
    }
}

/// The list named `name`, created on first mention (a list is reopened by
/// its header or by more `access-list N` lines).
fn acl_index<'a>(cfg: &mut Config<'a>, name: &'a str, kind: AclKind, line: &Line<'a>) -> usize {
    if let Some(i) = cfg.acls.iter().position(|a| a.name == name) {
        return i;
    }
    cfg.acls.push(Acl {
        name,
        kind,
        header: line.clone(),
        entries: Vec::new(),
    });
    cfg.acls.len() - 1
}

fn interface_line<'a>(i: &mut Interface<'a>, w: &[&'a str], line: Line<'a>) {
    match w {
        ["ip" | "ipv6", "address", ..] => i.addresses.push(line),
        ["ip", "access-group", _, dir @ ("in" | "out")]
        | ["ipv6", "traffic-filter", _, dir @ ("in" | "out")] => {
            let acl = line.words[2];
            i.bindings.push(Binding {
                acl,
                inbound: *dir == "in",
                line,
            })
        }
        ["shutdown"] => i.shutdown = true,
        ["ip", "nat", dir @ ("inside" | "outside")] => i.nat = Some(dir),
        _ => {}
    }
}
