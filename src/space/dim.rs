//! The dimensions of the packet space and the encoding of each into `u128`.
//!
//! Every packet field becomes an unsigned integer so that one interval-set type
//! covers all of them: addresses are 128-bit (IPv4 uses the low 32 bits, with the
//! family dimension saying which), interface names are their first 16 bytes read
//! big-endian (so a name prefix such as `eth+` is one interval), ICMP type and code
//! share one dimension as `type << 8 | code`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One field of a packet. The order is the order in which set differences split
/// cubes, chosen so that the pieces read naturally (protocol and ports first).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Dim {
    Family,
    Proto,
    Dport,
    Sport,
    Icmp,
    State,
    Flags,
    Dst,
    Src,
    In,
    Out,
}

pub const DIMS: usize = 11;

impl Dim {
    pub const ALL: [Dim; DIMS] = [
        Dim::Family,
        Dim::Proto,
        Dim::Dport,
        Dim::Sport,
        Dim::Icmp,
        Dim::State,
        Dim::Flags,
        Dim::Dst,
        Dim::Src,
        Dim::In,
        Dim::Out,
    ];

    pub const fn index(self) -> usize {
        self as usize
    }

    /// The largest value of the dimension (its domain is `0..=max`).
    pub const fn max(self) -> u128 {
        match self {
            Dim::Family => 1,
            Dim::Proto | Dim::Flags => 255,
            Dim::Dport | Dim::Sport | Dim::Icmp => 0xffff,
            Dim::State => State::MAX,
            Dim::Dst | Dim::Src | Dim::In | Dim::Out => u128::MAX,
        }
    }

    /// The dimension a reply packet carries this field in.
    pub fn reversed(self) -> Dim {
        match self {
            Dim::Dport => Dim::Sport,
            Dim::Sport => Dim::Dport,
            Dim::Dst => Dim::Src,
            Dim::Src => Dim::Dst,
            Dim::In => Dim::Out,
            Dim::Out => Dim::In,
            other => other,
        }
    }
}

/// Address family.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Family {
    Ipv4 = 0,
    Ipv6 = 1,
}

impl Family {
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    pub fn from_value(v: u128) -> Family {
        if v == 0 { Family::Ipv4 } else { Family::Ipv6 }
    }

    /// The largest address of the family.
    pub fn addr_max(self) -> u128 {
        match self {
            Family::Ipv4 => u32::MAX as u128,
            Family::Ipv6 => u128::MAX,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }

    /// The ICMP protocol number of the family (1 or 58).
    pub fn icmp_proto(self) -> u8 {
        match self {
            Family::Ipv4 => proto::ICMP,
            Family::Ipv6 => proto::ICMPV6,
        }
    }
}

/// Well-known IP protocol numbers.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;

    const NAMES: &[(&str, u8)] = &[
        ("icmp", 1),
        ("igmp", 2),
        ("ipip", 4),
        ("tcp", 6),
        ("egp", 8),
        ("udp", 17),
        ("ipv6", 41),
        ("rsvp", 46),
        ("gre", 47),
        ("esp", 50),
        ("ah", 51),
        ("icmpv6", 58),
        ("ospf", 89),
        ("pim", 103),
        ("vrrp", 112),
        ("l2tp", 115),
        ("sctp", 132),
        ("udplite", 136),
    ];

    /// A protocol by name (as iptables and nft spell them) or number.
    pub fn parse(s: &str) -> Option<u8> {
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "ipv6-icmp" | "ip6-icmp" => return Some(ICMPV6),
            "ospfigp" => return Some(89),
            "ipencap" => return Some(4),
            _ => {}
        }
        NAMES
            .iter()
            .find(|(n, _)| *n == lower)
            .map(|&(_, v)| v)
            .or_else(|| s.parse().ok())
    }

    pub fn name(p: u8) -> Option<&'static str> {
        NAMES.iter().find(|&&(_, v)| v == p).map(|&(n, _)| n)
    }

    /// Protocols whose packets carry source and destination ports (TCP,
    /// UDP, DCCP, SCTP, UDP-Lite), where transport headers start with them.
    pub const WITH_PORTS: [u8; 5] = [6, 17, 33, 132, 136];

    pub fn has_ports(p: u8) -> bool {
        WITH_PORTS.contains(&p)
    }

    /// [`WITH_PORTS`] as values of [`Dim::Proto`](crate::space::Dim::Proto).
    pub fn with_ports() -> crate::space::IntervalSet {
        crate::space::IntervalSet::from_ranges(
            WITH_PORTS.iter().map(|&p| (p as u128, p as u128)).collect(),
        )
    }
}

/// Connection-tracking states, as values of [`Dim::State`].
pub struct State;

impl State {
    pub const INVALID: u128 = 0;
    pub const NEW: u128 = 1;
    pub const ESTABLISHED: u128 = 2;
    pub const RELATED: u128 = 3;
    pub const UNTRACKED: u128 = 4;
    pub const MAX: u128 = 4;

    const NAMES: [&'static str; 5] = ["invalid", "new", "established", "related", "untracked"];

    pub fn parse(s: &str) -> Option<u128> {
        let lower = s.to_ascii_lowercase();
        Self::NAMES
            .iter()
            .position(|n| *n == lower)
            .map(|i| i as u128)
    }

    pub fn name(v: u128) -> &'static str {
        Self::NAMES.get(v as usize).copied().unwrap_or("?")
    }
}

/// TCP flag bits, as in the TCP header.
pub struct TcpFlag;

impl TcpFlag {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    const NAMES: [(&'static str, u8); 8] = [
        ("FIN", 0x01),
        ("SYN", 0x02),
        ("RST", 0x04),
        ("PSH", 0x08),
        ("ACK", 0x10),
        ("URG", 0x20),
        ("ECE", 0x40),
        ("CWR", 0x80),
    ];

    /// A comma-separated flag list (`SYN,ACK`, `ALL`, `NONE`) as a bit mask.
    pub fn parse_list(s: &str) -> Option<u8> {
        let mut bits = 0u8;
        for part in s.split(',') {
            let up = part.to_ascii_uppercase();
            bits |= match up.as_str() {
                "ALL" => 0xff,
                "NONE" => 0,
                _ => Self::NAMES.iter().find(|(n, _)| *n == up)?.1,
            };
        }
        Some(bits)
    }

    pub fn names(bits: u8) -> String {
        if bits == 0 {
            return "NONE".into();
        }
        Self::NAMES
            .iter()
            .filter(|(_, b)| bits & b != 0)
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// ICMP and ICMPv6 types by name.
pub mod icmp {
    const V4: &[(&str, u8, Option<u8>)] = &[
        ("echo-reply", 0, None),
        ("pong", 0, None),
        ("destination-unreachable", 3, None),
        ("network-unreachable", 3, Some(0)),
        ("host-unreachable", 3, Some(1)),
        ("protocol-unreachable", 3, Some(2)),
        ("port-unreachable", 3, Some(3)),
        ("fragmentation-needed", 3, Some(4)),
        ("source-route-failed", 3, Some(5)),
        ("network-unknown", 3, Some(6)),
        ("host-unknown", 3, Some(7)),
        ("network-prohibited", 3, Some(9)),
        ("host-prohibited", 3, Some(10)),
        ("TOS-network-unreachable", 3, Some(11)),
        ("TOS-host-unreachable", 3, Some(12)),
        ("communication-prohibited", 3, Some(13)),
        ("host-precedence-violation", 3, Some(14)),
        ("precedence-cutoff", 3, Some(15)),
        ("source-quench", 4, None),
        ("redirect", 5, None),
        ("network-redirect", 5, Some(0)),
        ("host-redirect", 5, Some(1)),
        ("TOS-network-redirect", 5, Some(2)),
        ("TOS-host-redirect", 5, Some(3)),
        ("echo-request", 8, None),
        ("ping", 8, None),
        ("router-advertisement", 9, None),
        ("router-solicitation", 10, None),
        ("time-exceeded", 11, None),
        ("ttl-exceeded", 11, None),
        ("ttl-zero-during-transit", 11, Some(0)),
        ("ttl-zero-during-reassembly", 11, Some(1)),
        ("parameter-problem", 12, None),
        ("ip-header-bad", 12, Some(0)),
        ("required-option-missing", 12, Some(1)),
        ("timestamp-request", 13, None),
        ("timestamp-reply", 14, None),
        ("address-mask-request", 17, None),
        ("address-mask-reply", 18, None),
        ("info-request", 15, None),
        ("info-reply", 16, None),
    ];

    /// ICMP destination-unreachable code names as nft writes them
    /// (`icmp code port-unreachable`).
    const CODES: &[(&str, u8)] = &[
        ("net-unreachable", 0),
        ("host-unreachable", 1),
        ("prot-unreachable", 2),
        ("port-unreachable", 3),
        ("frag-needed", 4),
        ("net-prohibited", 9),
        ("host-prohibited", 10),
        ("admin-prohibited", 13),
    ];

    /// The same for ICMPv6 (`icmpv6 code admin-prohibited`).
    const CODES6: &[(&str, u8)] = &[
        ("no-route", 0),
        ("admin-prohibited", 1),
        ("addr-unreachable", 3),
        ("port-unreachable", 4),
        ("policy-fail", 5),
        ("reject-route", 6),
    ];

    /// A code by nft name (of the family's table) or number.
    pub fn code(s: &str, v6: bool) -> Option<u8> {
        let table = if v6 { CODES6 } else { CODES };
        table
            .iter()
            .find(|(n, _)| *n == s)
            .map(|&(_, c)| c)
            .or_else(|| s.parse().ok())
    }

    const V6: &[(&str, u8, Option<u8>)] = &[
        ("destination-unreachable", 1, None),
        ("no-route", 1, Some(0)),
        ("communication-prohibited", 1, Some(1)),
        ("beyond-scope", 1, Some(2)),
        ("address-unreachable", 1, Some(3)),
        ("port-unreachable", 1, Some(4)),
        ("failed-policy", 1, Some(5)),
        ("reject-route", 1, Some(6)),
        ("packet-too-big", 2, None),
        ("time-exceeded", 3, None),
        ("ttl-exceeded", 3, None),
        ("ttl-zero-during-transit", 3, Some(0)),
        ("ttl-zero-during-reassembly", 3, Some(1)),
        ("parameter-problem", 4, None),
        ("bad-header", 4, Some(0)),
        ("unknown-header-type", 4, Some(1)),
        ("unknown-option", 4, Some(2)),
        ("echo-request", 128, None),
        ("ping", 128, None),
        ("echo-reply", 129, None),
        ("pong", 129, None),
        ("mld-listener-query", 130, None),
        ("mld-listener-report", 131, None),
        ("mld-listener-reduction", 132, None),
        ("router-solicitation", 133, None),
        ("router-advertisement", 134, None),
        ("neighbour-solicitation", 135, None),
        ("neighbor-solicitation", 135, None),
        ("neighbour-advertisement", 136, None),
        ("neighbor-advertisement", 136, None),
        ("redirect", 137, None),
        // nft's spellings
        ("mld-listener-done", 132, None),
        ("mld2-listener-report", 143, None),
        ("nd-router-solicit", 133, None),
        ("nd-router-advert", 134, None),
        ("nd-neighbor-solicit", 135, None),
        ("nd-neighbor-advert", 136, None),
        ("nd-redirect", 137, None),
        ("router-renumbering", 138, None),
        ("ind-neighbor-solicit", 141, None),
        ("ind-neighbor-advert", 142, None),
        ("no-route", 1, Some(0)),
        ("admin-prohibited", 1, Some(1)),
        ("addr-unreachable", 1, Some(3)),
        ("policy-fail", 1, Some(5)),
        ("reject-route", 1, Some(6)),
    ];

    /// The `[lo, hi]` values of the ICMP dimension that a type name or
    /// `type[/code]` number means; `None` when it is neither.
    pub fn parse(s: &str, v6: bool) -> Option<(u128, u128)> {
        let table = if v6 { V6 } else { V4 };
        let found = table.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(s));
        let (t, code) = match found {
            Some(&(_, t, c)) => (t, c),
            None => {
                let (t, c) = match s.split_once('/') {
                    Some((t, c)) => (t.parse().ok()?, Some(c.parse().ok()?)),
                    None => (s.parse().ok()?, None),
                };
                (t, c)
            }
        };
        let base = (t as u128) << 8;
        Some(match code {
            Some(c) => (base | c as u128, base | c as u128),
            None => (base, base | 0xff),
        })
    }

    /// The name of a type and code (`port-unreachable`), else of the whole
    /// type, if either has one.
    pub fn name_of(t: u8, code: u8, v6: bool) -> Option<&'static str> {
        let table = if v6 { V6 } else { V4 };
        table
            .iter()
            .find(|&&(_, ty, c)| ty == t && c == Some(code))
            .map(|&(n, _, _)| n)
            .or_else(|| type_name(t, v6))
    }

    /// The name of a whole type (all codes), if it has one.
    pub fn type_name(t: u8, v6: bool) -> Option<&'static str> {
        let table = if v6 { V6 } else { V4 };
        table
            .iter()
            .find(|&&(_, ty, c)| ty == t && c.is_none())
            .map(|&(n, _, _)| n)
    }
}

/// Interface names as values of [`Dim::In`] / [`Dim::Out`].
pub mod iface {
    /// The name's bytes, big-endian, zero-padded to 16 bytes (longer names are cut).
    pub fn encode(name: &str) -> u128 {
        let mut buf = [0u8; 16];
        for (b, c) in buf.iter_mut().zip(name.bytes()) {
            *b = c;
        }
        u128::from_be_bytes(buf)
    }

    pub fn decode(v: u128) -> String {
        let bytes = v.to_be_bytes();
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(16);
        String::from_utf8_lossy(&bytes[..end]).into_owned()
    }

    /// All names that start with `prefix` (iptables `eth+`, nft `"eth*"`).
    pub fn prefix_range(prefix: &str) -> (u128, u128) {
        let len = prefix.len().min(16);
        let lo = encode(prefix);
        let hi = if len == 16 {
            lo
        } else {
            lo | (u128::MAX >> (len * 8))
        };
        (lo, hi)
    }

    /// The prefix whose range is exactly `[lo, hi]`, if there is one.
    pub fn as_prefix(lo: u128, hi: u128) -> Option<String> {
        let free = (lo ^ hi).leading_zeros() as usize;
        if !free.is_multiple_of(8) || free == 128 {
            return None;
        }
        let bytes = free / 8;
        if bytes == 0 {
            return None;
        }
        let ones = u128::MAX >> (bytes * 8);
        if lo & ones == 0 && hi & ones == ones && lo & !ones == hi & !ones {
            let p = decode(lo);
            (p.len() == bytes).then_some(p)
        } else {
            None
        }
    }
}

/// Address helpers.
pub mod addr {
    use super::*;

    pub fn value(a: IpAddr) -> u128 {
        match a {
            IpAddr::V4(v) => u32::from(v) as u128,
            IpAddr::V6(v) => u128::from(v),
        }
    }

    pub fn to_ip(v: u128, family: Family) -> IpAddr {
        match family {
            Family::Ipv4 => IpAddr::V4(Ipv4Addr::from(v as u32)),
            Family::Ipv6 => IpAddr::V6(Ipv6Addr::from(v)),
        }
    }

    /// A prefix as people write it: a host without `/32` or `/128`.
    pub fn written(n: ipnet::IpNet) -> String {
        if n.prefix_len() == n.max_prefix_len() {
            n.addr().to_string()
        } else {
            n.to_string()
        }
    }

    /// The `[lo, hi]` range of a prefix.
    pub fn prefix_range(net: ipnet::IpNet) -> (u128, u128) {
        (value(net.network()), value(net.broadcast()))
    }

    /// The size (log2) of the largest aligned block that starts at `cur` and
    /// ends within `hi` (`cur <= hi`).
    fn block_log(cur: u128, hi: u128) -> u32 {
        let align = cur.trailing_zeros();
        let span = hi - cur;
        // The largest power of two not above span + 1.
        let fit = if span == u128::MAX {
            128
        } else {
            127 - (span + 1).leading_zeros()
        };
        align.min(fit)
    }

    /// The aligned blocks covering `[lo, hi]` (clamped to the family), as (start, log2 size).
    fn blocks(lo: u128, hi: u128, family: Family) -> impl Iterator<Item = (u128, u32)> {
        let hi = hi.min(family.addr_max());
        let mut cur = Some(lo).filter(|&l| l <= hi);
        std::iter::from_fn(move || {
            let c = cur?;
            let size = block_log(c, hi);
            let last = if size == 128 {
                u128::MAX
            } else {
                c + ((1u128 << size) - 1)
            };
            cur = (last < hi).then(|| last + 1);
            Some((c, size))
        })
    }

    /// How many prefixes [`range_to_prefixes`] gives, without building them.
    pub fn prefix_count(lo: u128, hi: u128, family: Family) -> usize {
        blocks(lo, hi, family).count()
    }

    /// The shortest list of CIDR prefixes that covers exactly `[lo, hi]`.
    pub fn range_to_prefixes(lo: u128, hi: u128, family: Family) -> Vec<ipnet::IpNet> {
        let bits = match family {
            Family::Ipv4 => 32,
            Family::Ipv6 => 128,
        };
        blocks(lo, hi, family)
            .map(|(start, size)| {
                let len = (bits - size.min(bits)) as u8;
                ipnet::IpNet::new(to_ip(start, family), len).expect("prefix length within bounds")
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_prefixes_are_intervals() {
        let (lo, hi) = iface::prefix_range("eth");
        assert!(lo <= iface::encode("eth0") && iface::encode("eth0") <= hi);
        assert!(lo <= iface::encode("eth") && iface::encode("eth") <= hi);
        assert!(!(lo..=hi).contains(&iface::encode("et")));
        assert!(!(lo..=hi).contains(&iface::encode("ethz").wrapping_add(hi)));
        assert_eq!(iface::as_prefix(lo, hi).as_deref(), Some("eth"));
        assert_eq!(iface::decode(iface::encode("ppp0")), "ppp0");
    }

    proptest::proptest! {
        /// The prefixes of a range are aligned, consecutive, cover it exactly,
        /// and are as many as `prefix_count` says.
        #[test]
        fn prefixes_cover_the_range_exactly(a in 0u128..1 << 40, len in 0u128..1 << 20, v6 in proptest::bool::ANY) {
            let family = if v6 { Family::Ipv6 } else { Family::Ipv4 };
            let lo = if v6 { a << 80 } else { a & 0xffff_ffff };
            let hi = (lo + len).min(family.addr_max());
            let p = addr::range_to_prefixes(lo, hi, family);
            proptest::prop_assert_eq!(p.len(), addr::prefix_count(lo, hi, family));
            let mut next = lo;
            for n in &p {
                let (s, e) = addr::prefix_range(*n);
                proptest::prop_assert_eq!(s, next);
                next = e.wrapping_add(1);
                proptest::prop_assert!(e <= hi);
            }
            proptest::prop_assert_eq!(next, hi.wrapping_add(1));
        }
    }

    #[test]
    fn ranges_become_prefixes() {
        let p = addr::range_to_prefixes(0, u32::MAX as u128, Family::Ipv4);
        assert_eq!(p, vec!["0.0.0.0/0".parse().unwrap()]);
        let p = addr::range_to_prefixes(
            u32::from(Ipv4Addr::new(10, 0, 0, 1)) as u128,
            u32::from(Ipv4Addr::new(10, 0, 0, 6)) as u128,
            Family::Ipv4,
        );
        let s: Vec<String> = p.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            s,
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        let p = addr::range_to_prefixes(0, u128::MAX, Family::Ipv6);
        assert_eq!(p, vec!["::/0".parse().unwrap()]);
    }

    #[test]
    fn icmp_names_and_numbers() {
        assert_eq!(icmp::parse("echo-request", false), Some((0x800, 0x8ff)));
        assert_eq!(icmp::parse("3/4", false), Some((0x304, 0x304)));
        assert_eq!(icmp::parse("echo-request", true), Some((0x8000, 0x80ff)));
        assert_eq!(icmp::parse("bogus", false), None);
    }
}
