//! The structure of an ASA (or PIX) `show running-config`: interfaces with
//! their names and security levels, objects and object-groups, access lists
//! and their bindings, routes, `same-security-traffic`, ICMP inspection and
//! `name` aliases. Lines of any other context are skipped with their block.

use crate::frontend::cisco::lines;
pub use crate::frontend::cisco::{Line, Word};

#[derive(Debug, Clone)]
pub struct Interface<'a> {
    pub hardware: Word<'a>,
    pub nameif: Option<&'a str>,
    /// `None` when not written: ASA gives `inside` 100 and every other 0.
    pub level: Option<Word<'a>>,
    pub addresses: Vec<Line<'a>>,
    pub shutdown: bool,
}

/// An object or object-group: its kind words (`network`, `service tcp`, …),
/// name and member lines.
#[derive(Debug, Clone)]
pub struct Object<'a> {
    /// `object` (one definition) or `object-group` (a list of members).
    pub group: bool,
    pub kind: &'a str,
    /// The protocol of `object-group service NAME tcp|udp|tcp-udp`.
    pub protocol: Option<&'a str>,
    pub name: Word<'a>,
    pub members: Vec<Line<'a>>,
}

#[derive(Debug, Clone)]
pub struct Acl<'a> {
    pub name: &'a str,
    /// The first line of the list, which the implicit deny is cited at.
    pub header: Line<'a>,
    /// The lines after `access-list NAME` (and after `line N`), remarks
    /// included: ASA numbers its lines with them.
    pub entries: Vec<Line<'a>>,
}

#[derive(Debug, Clone)]
pub struct Binding<'a> {
    pub acl: Word<'a>,
    /// `Some(in|out, interface)`, or `None` for `global`.
    pub on: Option<(bool, Word<'a>)>,
    pub line: Line<'a>,
}

#[derive(Debug, Clone, Default)]
pub struct Config<'a> {
    pub interfaces: Vec<Interface<'a>>,
    pub objects: Vec<Object<'a>>,
    pub acls: Vec<Acl<'a>>,
    pub bindings: Vec<Binding<'a>>,
    pub routes: Vec<Line<'a>>,
    /// `name A NAME` aliases.
    pub names: Vec<(Word<'a>, Word<'a>)>,
    pub same_security_inter: bool,
    pub same_security_intra: bool,
    pub policy_maps: Vec<&'a str>,
    /// The policy-maps (by index) that hold an `inspect icmp` line.
    pub inspecting_icmp: Vec<usize>,
    /// The policy-map `service-policy NAME global` applies.
    pub global_policy: Option<&'a str>,
}

impl Config<'_> {
    /// Whether the global policy inspects ICMP, which makes it stateful.
    pub fn inspects_icmp(&self) -> bool {
        self.inspecting_icmp
            .iter()
            .any(|&i| Some(self.policy_maps[i]) == self.global_policy)
    }
}

enum Block {
    None,
    Skip,
    Interface(usize),
    Object(usize),
    /// A policy-map, by its name's index in `policy_maps`.
    PolicyMap(usize),
}

pub fn parse(text: &str) -> Config<'_> {
    let mut cfg = Config::default();
    let mut block = Block::None;
    for (indented, line) in lines(text) {
        let w: Vec<&str> = line.words.iter().map(|w| w.text).collect();
        if indented {
            match block {
                Block::Interface(i) => interface_line(&mut cfg.interfaces[i], &w, line),
                Block::Object(i) => cfg.objects[i].members.push(line),
                Block::PolicyMap(i) => {
                    if w == ["inspect", "icmp"] {
                        cfg.inspecting_icmp.push(i);
                    }
                }
                Block::None | Block::Skip => {}
            }
            continue;
        }
        block = match w.as_slice() {
            ["interface", _, ..] => {
                cfg.interfaces.push(Interface {
                    hardware: line.words[1],
                    nameif: None,
                    level: None,
                    addresses: Vec::new(),
                    shutdown: false,
                });
                Block::Interface(cfg.interfaces.len() - 1)
            }
            ["object" | "object-group", kind, name, rest @ ..] => {
                // An object written again (`object network X` / ` nat …`) gains the new lines.
                match cfg.objects.iter().position(|o| o.name.text == *name) {
                    Some(i) => Block::Object(i),
                    None => {
                        cfg.objects.push(Object {
                            group: w[0] == "object-group",
                            kind,
                            protocol: rest.first().copied(),
                            name: line.words[2],
                            members: Vec::new(),
                        });
                        Block::Object(cfg.objects.len() - 1)
                    }
                }
            }
            // `show access-list` headers: `access-list NAME; 12 elements; …`,
            // `access-list cached ACL log flows: …`.
            ["access-list", name, ..]
                if name.ends_with(';')
                    || matches!(*name, "cached" | "alert-interval" | "deny-flow-max") =>
            {
                Block::None
            }
            ["access-list", name, kind, ..]
                if !matches!(*kind, "webtype" | "ethertype" | "standard") =>
            {
                // `access-list NAME [line N] [extended] ENTRY`: at line N
                // (remarks count), or at the end.
                let mut skip = 2;
                let mut at = None;
                if *kind == "line" {
                    at = w.get(3).and_then(|n| n.parse::<usize>().ok());
                    skip += 2;
                }
                if w.get(skip) == Some(&"extended") {
                    skip += 1;
                }
                if skip < w.len() {
                    let i = acl_index(&mut cfg, name, &line);
                    let mut entry = line.clone();
                    entry.words.drain(..skip);
                    entry.start = entry.words[0].at;
                    let entries = &mut cfg.acls[i].entries;
                    let k = at.map_or(entries.len(), |n| n.saturating_sub(1).min(entries.len()));
                    entries.insert(k, entry);
                }
                Block::None
            }
            ["access-group", _, "global"] => {
                cfg.bindings.push(Binding {
                    acl: line.words[1],
                    on: None,
                    line,
                });
                Block::None
            }
            // `control-plane`: traffic to the ASA itself, not through it.
            ["access-group", _, _, "interface", _, "control-plane"] => Block::None,
            ["access-group", _, dir @ ("in" | "out"), "interface", _, ..] => {
                let inbound = *dir == "in";
                cfg.bindings.push(Binding {
                    acl: line.words[1],
                    on: Some((inbound, line.words[4])),
                    line,
                });
                Block::None
            }
            ["route", _, _, _, _, ..] => {
                cfg.routes.push(line);
                Block::None
            }
            ["name", _, _, ..] => {
                cfg.names.push((line.words[1], line.words[2]));
                Block::None
            }
            ["same-security-traffic", "permit", which] => {
                cfg.same_security_inter |= *which == "inter-interface";
                cfg.same_security_intra |= *which == "intra-interface";
                Block::None
            }
            ["policy-map", name] => {
                cfg.policy_maps.push(name);
                Block::PolicyMap(cfg.policy_maps.len() - 1)
            }
            ["service-policy", name, "global"] => {
                cfg.global_policy = Some(name);
                Block::None
            }
            // PIX: `nameif HARDWARE NAME securityN`.
            ["nameif", hw, name, _] => {
                if let Some(i) = cfg.interfaces.iter_mut().find(|i| i.hardware.text == *hw) {
                    i.nameif = Some(name);
                    i.level = Some(line.words[3]);
                }
                Block::None
            }
            // PIX: `ip address NAME A MASK`.
            ["ip", "address", name, _, _, ..] => {
                if let Some(i) = cfg.interfaces.iter_mut().find(|i| i.nameif == Some(*name)) {
                    i.addresses.push(line);
                }
                Block::None
            }
            _ => Block::Skip,
        };
    }
    cfg
}

fn acl_index<'a>(cfg: &mut Config<'a>, name: &'a str, line: &Line<'a>) -> usize {
    if let Some(i) = cfg.acls.iter().position(|a| a.name == name) {
        return i;
    }
    cfg.acls.push(Acl {
        name,
        header: line.clone(),
        entries: Vec::new(),
    });
    cfg.acls.len() - 1
}

fn interface_line<'a>(i: &mut Interface<'a>, w: &[&'a str], line: Line<'a>) {
    match w {
        ["nameif", name] => i.nameif = Some(name),
        ["security-level", _] => i.level = Some(line.words[1]),
        ["ip" | "ipv6", "address", ..] => i.addresses.push(line),
        ["shutdown"] => i.shutdown = true,
        _ => {}
    }
}
