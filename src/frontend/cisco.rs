//! What the Cisco front-ends share: configuration lines cut into words,
//! addresses with wildcard or subnet masks, the port, protocol and ICMP
//! message names of IOS and ASA.

use crate::diag::InputError;
use crate::model::{Chain, Format, Policy, SourceFile, Span, Text, Topology};
use crate::space::{Family, IntervalSet};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// A word of a line and where it starts in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word<'a> {
    pub text: &'a str,
    pub at: usize,
}

/// One line of the file: its words, and the byte range of its text (without
/// leading blanks and line end).
#[derive(Debug, Clone)]
pub struct Line<'a> {
    pub words: Vec<Word<'a>>,
    pub start: usize,
    pub end: usize,
}

/// Splits the text into lines of words (comments and blank lines dropped).
pub fn lines(text: &str) -> impl Iterator<Item = (bool, Line<'_>)> {
    let mut offset = 0;
    text.split_inclusive('\n').filter_map(move |raw| {
        let base = offset;
        offset += raw.len();
        let body = raw.trim_end_matches(['\n', '\r']);
        let trimmed = body.trim_start();
        // `!` comments (and ASA's `:` ones).
        if trimmed.is_empty() || trimmed.starts_with(['!', ':']) {
            return None;
        }
        let indented = trimmed.len() < body.len();
        let start = base + (body.len() - trimmed.len());
        let mut words = Vec::new();
        let mut pos = start;
        for w in trimmed.split_ascii_whitespace() {
            let at = pos + text[pos..].find(w).expect("the word is in the line");
            words.push(Word { text: w, at });
            pos = at + w.len();
        }
        Some((
            indented,
            Line {
                words,
                start,
                end: base + body.trim_end().len(),
            },
        ))
    })
}

/// What lowering gives the policy.
pub struct Lowered {
    pub chains: Vec<Chain>,
    pub families: Vec<Family>,
    pub notes: Vec<String>,
    pub topology: Topology,
}

impl Lowered {
    /// The policy of one configuration file, which keeps its text.
    pub fn into_policy(self, format: Format, path: &str, text: Text, unbound: bool) -> Policy {
        Policy {
            format,
            files: vec![SourceFile {
                path: path.to_string(),
                text,
            }],
            chains: self.chains,
            families: self.families,
            notes: self.notes,
            topology: Some(self.topology),
            unbound,
            dns_addresses: Default::default(),
            roots: Default::default(),
        }
    }
}

/// Cisco's short interface names (`Gi0/1` for `GigabitEthernet0/1`): rules
/// match interfaces by these, which fit the 16 bytes of the interface dimension.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("GigabitEthernet", "Gi"),
    ("FastEthernet", "Fa"),
    ("TenGigabitEthernet", "Te"),
    ("TwentyFiveGigE", "Twe"),
    ("FortyGigabitEthernet", "Fo"),
    ("HundredGigE", "Hu"),
    ("Ethernet", "Et"),
    ("Serial", "Se"),
    ("Vlan", "Vl"),
    ("Port-channel", "Po"),
    ("Loopback", "Lo"),
    ("Tunnel", "Tu"),
    ("Dialer", "Di"),
    ("Virtual-Template", "Vt"),
    ("Cellular", "Ce"),
    ("Multilink", "Mu"),
];

/// The short form of an interface name as IOS accepts it abbreviated.
pub fn short_name(name: &str) -> String {
    let split = name
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(name.len());
    let (kind, rest) = name.split_at(split);
    match SHORT_NAMES.iter().find(|(full, short)| {
        kind.len() >= short.len()
            && full.len() >= kind.len()
            && full[..kind.len()].eq_ignore_ascii_case(kind)
    }) {
        Some((_, short)) => format!("{short}{rest}"),
        None => name.to_string(),
    }
}

/// A configuration's text, for errors located at a word and for the spans
/// of rules.
pub struct Source<'s> {
    pub path: &'s str,
    pub text: &'s str,
    /// Where each line starts.
    lines: Vec<usize>,
}

impl<'s> Source<'s> {
    pub fn new(path: &'s str, text: &'s str) -> Self {
        let lines = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source { path, text, lines }
    }

    pub fn err(
        &self,
        w: &Word<'_>,
        message: impl Into<String>,
        expected: impl Into<String>,
    ) -> InputError {
        InputError::at(self.path, self.text, w.at, w.text.len(), message, expected)
    }

    /// A word that reads as `A/LEN`.
    pub fn prefix(&self, w: &Word<'_>) -> Result<ipnet::IpNet, InputError> {
        w.text.parse().map_err(|_| {
            self.err(
                w,
                format!("`{}` is not a prefix", w.text),
                "expected an address/length prefix",
            )
        })
    }

    /// The 1-based line of a byte offset.
    pub fn line_of(&self, at: usize) -> u32 {
        self.lines.partition_point(|&s| s <= at) as u32
    }

    pub fn span(&self, l: &Line<'_>) -> Span {
        Span::new(0, self.line_of(l.start), l.start..l.end)
    }
}

/// The words of one line, read left to right.
pub struct Cursor<'w, 'a> {
    pub w: &'w [Word<'a>],
    pub i: usize,
    pub src: &'w Source<'w>,
}

impl<'a> Cursor<'_, 'a> {
    pub fn peek(&self) -> Option<Word<'a>> {
        self.w.get(self.i).copied()
    }

    /// The next word, or an error just past the last one saying what was expected.
    pub fn next(&mut self, expected: &str) -> Result<Word<'a>, InputError> {
        match self.w.get(self.i) {
            Some(w) => {
                self.i += 1;
                Ok(*w)
            }
            None => {
                let last = self.w.last().expect("lines have words");
                Err(InputError::at(
                    self.src.path,
                    self.src.text,
                    last.at + last.text.len(),
                    1,
                    "the entry ends too early",
                    format!("expected {expected}"),
                ))
            }
        }
    }

    /// A port by number or by its Cisco name; `names` gives examples of the
    /// vendor's names for the error.
    pub fn port(&mut self, udp: bool, names: &str) -> Result<u128, InputError> {
        let w = self.next("a port")?;
        port(w.text, udp).map(u128::from).ok_or_else(|| {
            self.src.err(
                &w,
                format!("`{}` is not a port or a port name", w.text),
                format!("expected a number 0-65535 or {names}"),
            )
        })
    }

    /// The ports after `neq P`, `lt P`, `gt P` or `range A B` (the operator
    /// already read); `None` for another operator, whose words are left.
    pub fn compared_ports(
        &mut self,
        op: &str,
        udp: bool,
        names: &str,
    ) -> Option<Result<IntervalSet, InputError>> {
        matches!(op, "neq" | "lt" | "gt" | "range").then(|| self.compared(op, udp, names))
    }

    fn compared(&mut self, op: &str, udp: bool, names: &str) -> Result<IntervalSet, InputError> {
        Ok(match op {
            "neq" => IntervalSet::point(self.port(udp, names)?).complement(0xffff),
            "lt" => match self.port(udp, names)? {
                0 => IntervalSet::empty(),
                v => IntervalSet::range(0, v - 1),
            },
            "gt" => match self.port(udp, names)? {
                0xffff.. => IntervalSet::empty(),
                v => IntervalSet::range(v + 1, 0xffff),
            },
            _ => {
                let (a, b) = (self.port(udp, names)?, self.port(udp, names)?);
                IntervalSet::range(a.min(b), a.max(b))
            }
        })
    }

    pub fn expect(&mut self, word: &str) -> Result<(), InputError> {
        let w = self.next(&format!("`{word}`"))?;
        if w.text == word {
            Ok(())
        } else {
            Err(self.src.err(
                &w,
                format!("unexpected `{}`", w.text),
                format!("expected `{word}`"),
            ))
        }
    }
}

/// One port range of a suggested entry: `eq P`, `range A B`, or nothing for
/// every port (and for several ranges, which one entry cannot name).
pub fn port_spec(s: &IntervalSet) -> Option<String> {
    match s.ranges() {
        [(0, 0xffff)] | [(1, 0xffff)] => None,
        [(a, b)] if a == b => Some(format!("eq {a}")),
        [(a, b)] => Some(format!("range {a} {b}")),
        _ => None,
    }
}

/// Past this many ranges a non-contiguous wildcard is not represented (it
/// is kept as an unmodelled condition instead): `0.0.0.254` is 128 ranges,
/// `255.255.255.254` would be two thousand million.
pub const MAX_WILDCARD_RANGES: usize = 1 << 16;

/// The addresses `base` with wildcard `wild` matches: every address equal to
/// `base` on the bits the wildcard clears. `None` when that takes more than
/// [`MAX_WILDCARD_RANGES`] ranges.
pub fn wildcard(base: Ipv4Addr, wild: Ipv4Addr) -> Option<IntervalSet> {
    let (base, wild) = (u32::from(base), u32::from(wild));
    // The low run of wildcard bits makes each piece a range; the wildcard
    // bits above a cleared bit multiply the pieces.
    let low = wild.trailing_ones();
    let run = if low == 32 {
        u32::MAX
    } else {
        (1u32 << low) - 1
    };
    let high = wild & !run;
    if 1usize.checked_shl(high.count_ones())? > MAX_WILDCARD_RANGES {
        return None;
    }
    let fixed = base & !wild;
    let mut ranges = Vec::with_capacity(1 << high.count_ones());
    // Every subset of the high wildcard bits, in turn.
    let mut sub = 0u32;
    loop {
        let lo = fixed | sub;
        ranges.push((lo as u128, (lo | run) as u128));
        if sub == high {
            break;
        }
        sub = sub.wrapping_sub(high) & high;
    }
    Some(IntervalSet::from_ranges(ranges))
}

/// The addresses of `base` under subnet mask `mask` (`None` when the mask is
/// not contiguous, as a subnet mask must be).
pub fn netmask(base: Ipv4Addr, mask: Ipv4Addr) -> Option<IntervalSet> {
    let m = u32::from(mask);
    if m.leading_ones() + m.trailing_zeros() != 32 {
        return None;
    }
    let lo = u32::from(base) & m;
    Some(IntervalSet::range(lo as u128, (lo | !m) as u128))
}

/// IP protocol names of Cisco ACLs (and numbers).
pub fn protocol(name: &str) -> Option<u8> {
    PROTOCOLS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, p)| p)
        .or_else(|| name.parse().ok())
}

/// The Cisco name of a protocol number (the first of its names), if it has one.
pub fn protocol_name(p: u8) -> Option<&'static str> {
    PROTOCOLS.iter().find(|&&(_, n)| n == p).map(|&(n, _)| n)
}

/// Protocol names of Cisco lists, the usual one of each number first.
const PROTOCOLS: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("ipinip", 4),
    ("tcp", 6),
    ("igrp", 9),
    ("udp", 17),
    ("gre", 47),
    ("esp", 50),
    ("ahp", 51),
    ("ah", 51),
    ("icmp6", 58),
    ("icmpv6", 58),
    ("eigrp", 88),
    ("ospf", 89),
    ("nos", 94),
    ("pim", 103),
    ("pcp", 108),
    ("snp", 109),
    ("sctp", 132),
];

/// A TCP or UDP port by number or by the name IOS or ASA gives it (`www`,
/// `domain`, `https`, `ntp`, …); `udp` chooses the UDP table where the two
/// differ (`syslog` is UDP 514, `cmd` TCP 514).
pub fn port(name: &str, udp: bool) -> Option<u16> {
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    const BOTH: &[(&str, u16)] = &[
        ("discard", 9),
        ("echo", 7),
        ("domain", 53),
        ("sunrpc", 111),
        ("tacacs", 49),
        ("talk", 517),
        ("time", 37),
        ("pim-auto-rp", 496),
        ("www", 80),
        ("http", 80),
        ("https", 443),
        ("kerberos", 88),
        ("nfs", 2049),
        ("radius", 1645),
        ("radius-acct", 1646),
        ("sip", 5060),
        ("ctiqbe", 2748),
        ("secureid-udp", 5510),
    ];
    const TCP: &[(&str, u16)] = &[
        ("bgp", 179),
        ("chargen", 19),
        ("cmd", 514),
        ("rsh", 514),
        ("daytime", 13),
        ("drip", 3949),
        ("exec", 512),
        ("finger", 79),
        ("ftp", 21),
        ("ftp-data", 20),
        ("gopher", 70),
        ("hostname", 101),
        ("ident", 113),
        ("irc", 194),
        ("klogin", 543),
        ("kshell", 544),
        ("login", 513),
        ("lpd", 515),
        ("msrpc", 135),
        ("nntp", 119),
        ("pop2", 109),
        ("pop3", 110),
        ("smtp", 25),
        ("ssh", 22),
        ("telnet", 23),
        ("uucp", 540),
        ("whois", 43),
        ("aol", 5190),
        ("citrix-ica", 1494),
        ("cifs", 3020),
        ("h323", 1720),
        ("imap4", 143),
        ("ldap", 389),
        ("ldaps", 636),
        ("lotusnotes", 1352),
        ("netbios-ssn", 139),
        ("pcanywhere-data", 5631),
        ("pptp", 1723),
        ("rtsp", 554),
        ("sqlnet", 1521),
        ("onep-plain", 15001),
        ("onep-tls", 15002),
    ];
    const UDP: &[(&str, u16)] = &[
        ("biff", 512),
        ("bootpc", 68),
        ("bootps", 67),
        ("dnsix", 195),
        ("isakmp", 500),
        ("mobile-ip", 434),
        ("nameserver", 42),
        ("netbios-dgm", 138),
        ("netbios-ns", 137),
        ("netbios-ss", 139),
        ("non500-isakmp", 4500),
        ("ntp", 123),
        ("rip", 520),
        ("ripv6", 521),
        ("snmp", 161),
        ("snmptrap", 162),
        ("syslog", 514),
        ("tftp", 69),
        ("who", 513),
        ("xdmcp", 177),
        ("pcanywhere-status", 5632),
        ("cifs", 3020),
        ("vxlan", 4789),
        ("wsp", 9200),
    ];
    let own = if udp { UDP } else { TCP };
    BOTH.iter()
        .chain(own)
        .find(|(n, _)| *n == name)
        .map(|&(_, p)| p)
}

/// ICMP messages by their Cisco names: (name, type, code).
const MESSAGES: &[(&str, u8, Option<u8>)] = &[
    ("echo-reply", 0, None),
    ("unreachable", 3, None),
    ("net-unreachable", 3, Some(0)),
    ("host-unreachable", 3, Some(1)),
    ("protocol-unreachable", 3, Some(2)),
    ("port-unreachable", 3, Some(3)),
    ("packet-too-big", 3, Some(4)),
    ("source-route-failed", 3, Some(5)),
    ("network-unknown", 3, Some(6)),
    ("net-unknown", 3, Some(6)),
    ("host-unknown", 3, Some(7)),
    ("host-isolated", 3, Some(8)),
    ("dod-net-prohibited", 3, Some(9)),
    ("net-prohibited", 3, Some(9)),
    ("dod-host-prohibited", 3, Some(10)),
    ("host-prohibited", 3, Some(10)),
    ("net-tos-unreachable", 3, Some(11)),
    ("host-tos-unreachable", 3, Some(12)),
    ("administratively-prohibited", 3, Some(13)),
    ("host-precedence-unreachable", 3, Some(14)),
    ("precedence-unreachable", 3, Some(15)),
    ("source-quench", 4, None),
    ("redirect", 5, None),
    ("net-redirect", 5, Some(0)),
    ("host-redirect", 5, Some(1)),
    ("net-tos-redirect", 5, Some(2)),
    ("host-tos-redirect", 5, Some(3)),
    ("alternate-address", 6, None),
    ("echo", 8, None),
    ("router-advertisement", 9, None),
    ("router-solicitation", 10, None),
    ("time-exceeded", 11, None),
    ("ttl-exceeded", 11, Some(0)),
    ("reassembly-timeout", 11, Some(1)),
    ("parameter-problem", 12, None),
    ("general-parameter-problem", 12, Some(0)),
    ("option-missing", 12, Some(1)),
    ("no-room-for-option", 12, Some(2)),
    ("timestamp-request", 13, None),
    ("timestamp-reply", 14, None),
    ("information-request", 15, None),
    ("information-reply", 16, None),
    ("mask-request", 17, None),
    ("mask-reply", 18, None),
    ("traceroute", 30, None),
    ("conversion-error", 31, None),
    ("mobile-redirect", 32, None),
];

/// ICMPv6 messages by the names of IOS IPv6 lists: (name, type, code).
const MESSAGES6: &[(&str, u8, Option<u8>)] = &[
    ("unreachable", 1, None),
    ("no-admin", 1, Some(1)),
    ("port-unreachable", 1, Some(4)),
    ("packet-too-big", 2, None),
    ("time-exceeded", 3, None),
    ("hop-limit", 3, Some(0)),
    ("reassembly-timeout", 3, Some(1)),
    ("parameter-problem", 4, None),
    ("header", 4, Some(0)),
    ("next-header", 4, Some(1)),
    ("echo-request", 128, None),
    ("echo", 128, None),
    ("echo-reply", 129, None),
    ("mld-query", 130, None),
    ("mld-report", 131, None),
    ("mld-reduction", 132, None),
    ("router-solicitation", 133, None),
    ("router-advertisement", 134, None),
    ("nd-ns", 135, None),
    ("nd-na", 136, None),
    ("redirect", 137, None),
    ("router-renumbering", 138, None),
];

/// An ICMP (`v6`: ICMPv6) message by its Cisco name, as the `[lo, hi]` of
/// the ICMP dimension (`type << 8 | code`; a type alone is all its codes).
pub fn icmp_message_of(name: &str, v6: bool) -> Option<(u128, u128)> {
    if !v6 {
        return icmp_message(name);
    }
    let &(_, t, code) = MESSAGES6.iter().find(|(n, _, _)| *n == name)?;
    let base = (t as u128) << 8;
    Some(match code {
        Some(c) => (base | c as u128, base | c as u128),
        None => (base, base | 0xff),
    })
}

/// The Cisco name of a whole ICMP (`v6`: ICMPv6) type, if it has one.
pub fn icmp_type_name(t: u8, v6: bool) -> Option<&'static str> {
    if v6 {
        MESSAGES6
            .iter()
            .find(|(_, ty, c)| *ty == t && c.is_none())
            .map(|(n, _, _)| *n)
    } else {
        MESSAGES
            .iter()
            .find(|(_, ty, c)| *ty == t && c.is_none())
            .map(|(n, _, _)| *n)
    }
}

/// An ICMP message by its Cisco name, as the `[lo, hi]` of the ICMP
/// dimension (`type << 8 | code`; a type alone is all its codes).
pub fn icmp_message(name: &str) -> Option<(u128, u128)> {
    let &(_, t, code) = MESSAGES.iter().find(|(n, _, _)| *n == name)?;
    let base = (t as u128) << 8;
    Some(match code {
        Some(c) => (base | c as u128, base | c as u128),
        None => (base, base | 0xff),
    })
}

/// Objects or groups resolved the first time they are named (one means the
/// same wherever it is used), so that a large list that names them often is fast.
pub struct Memo<V>(RefCell<HashMap<String, V>>);

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Memo(RefCell::default())
    }
}

impl<V: Clone> Memo<V> {
    pub fn get_or<E>(&self, name: &str, resolve: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        if let Some(v) = self.0.borrow().get(name) {
            return Ok(v.clone());
        }
        let v = resolve()?;
        self.0.borrow_mut().insert(name.to_string(), v.clone());
        Ok(v)
    }
}

/// The protocols of a `tcp`, `udp` or `tcp-udp` service word.
pub fn tcp_udp(word: &str) -> &'static [u8] {
    use crate::space::dim::proto;
    match word {
        "tcp" => &[proto::TCP],
        "udp" => &[proto::UDP],
        _ => &[proto::TCP, proto::UDP],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A wildcard's set holds exactly the addresses that agree with the
        /// base on the bits the wildcard clears.
        #[test]
        fn wildcards_are_exact(base in any::<u32>(), wild in any::<u32>(), probe in any::<u32>()) {
            // Keep the piece count small enough to build.
            let wild = wild & 0x000f_00ff;
            let set = wildcard(base.into(), wild.into()).expect("small");
            let inside = (probe ^ base) & !wild == 0;
            prop_assert_eq!(set.contains(probe as u128), inside);
            let member = (base & !wild) | (probe & wild);
            prop_assert!(set.contains(member as u128));
        }
    }

    #[test]
    fn wildcard_shapes() {
        let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let w = wildcard(a("192.168.1.0"), a("0.0.0.254")).unwrap();
        assert_eq!(w.ranges().len(), 128);
        assert!(w.contains(u32::from(a("192.168.1.10")) as u128));
        assert!(!w.contains(u32::from(a("192.168.1.11")) as u128));
        assert_eq!(
            wildcard(a("10.0.0.0"), a("0.255.255.255"))
                .unwrap()
                .ranges(),
            &[(0x0a00_0000, 0x0aff_ffff)]
        );
        assert!(wildcard(a("0.0.0.0"), a("255.255.255.254")).is_none());
        assert_eq!(wildcard(a("1.2.3.4"), a("0.0.0.0")).unwrap().len(), 1);
        assert!(netmask(a("10.1.0.0"), a("255.255.0.0")).is_some());
        assert!(netmask(a("10.1.0.0"), a("255.0.255.0")).is_none());
    }
}
