//! An nftables ruleset: a named interval set of blocked prefixes and ranges
//! that the forward path looks up, verdict maps on state, interface and
//! source subnet, and per-subnet chains of host rules.

use super::Rng;
use std::fmt::Write;

fn ip(v: u64) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(v as u32)
}

/// A ruleset whose set has `elements` elements, with a tenth as many rules
/// (at least 50) in chains of 100 that a verdict map on the source subnet
/// picks. The dialler's chain drops NetBIOS above its UDP accept.
pub fn ruleset(elements: usize) -> String {
    let mut r = Rng(0x2545_f491_4f6c_dd1d);
    let rules = (elements / 10).max(50);
    let chains = rules.div_ceil(100);
    let mut s = String::with_capacity(elements * 24 + rules * 80 + 4096);
    s.push_str("# synthetic nftables benchmark input\ntable inet filter {\n");
    s.push_str("  set blocked {\n    type ipv4_addr\n    flags interval\n    elements = {\n");
    for i in 0..elements {
        // Every 4096th block from 1.0.0.0 on, so that elements stay disjoint.
        let block = (1u64 << 24) + (i as u64) * 4096;
        let sep = if i + 1 == elements { "" } else { "," };
        let _ = match i % 4 {
            0 => writeln!(
                s,
                "      {}-{}{sep}",
                ip(block + r.below(1024)),
                ip(block + 1024 + r.below(1024))
            ),
            1 => writeln!(s, "      {}/24{sep}", ip(block + 256 * r.below(16))),
            2 => writeln!(s, "      {}/22{sep}", ip(block + 1024 * r.below(4))),
            _ => writeln!(s, "      {}{sep}", ip(block + r.below(4096))),
        };
    }
    s.push_str("    }\n  }\n");
    s.push_str(concat!(
        "  chain forward {\n    type filter hook forward priority filter; policy drop;\n",
        "    ct state vmap { established : accept, related : accept, invalid : drop }\n",
        "    ip daddr @blocked counter drop\n",
        "    iifname vmap { \"eth1\" : jump lan, \"eth2\" : jump dmz }\n",
        "    ip saddr { 10.0.0.30, 172.16.3.40 } ip daddr 192.168.1.10 tcp dport 80 accept\n",
        "    ip saddr { 10.0.0.30, 172.16.3.40 } ip daddr 192.168.1.10 icmp type echo-request accept\n",
        "  }\n",
        "  chain lan {\n",
        "    ip saddr 192.168.1.10 tcp dport { 443, 53 } accept\n",
        "    ip saddr 192.168.1.10 udp dport vmap { 137-139 : drop, 1900 : drop }\n",
        "    ip saddr 192.168.1.10 meta l4proto udp accept\n",
        "    ip saddr 192.168.1.10 icmp type echo-request accept\n",
        "    ip saddr vmap {",
    ));
    for c in 0..chains {
        let sep = if c + 1 == chains { "" } else { "," };
        let _ = write!(s, " 10.{}.{}.0/24 : jump net{c}{sep}", c / 256, c % 256);
    }
    s.push_str(" }\n  }\n  chain dmz {\n    tcp dport { 80, 443 } accept\n  }\n");
    for c in 0..chains {
        let _ = writeln!(s, "  chain net{c} {{");
        for _ in 0..100 {
            let _ = write!(
                s,
                "    ip saddr 10.{}.{}.{}",
                c / 256,
                c % 256,
                1 + r.below(254)
            );
            let _ = match r.below(6) {
                0 => write!(s, " tcp dport {}", 1 + r.below(65535)),
                1 => write!(
                    s,
                    " ip daddr {}/24 udp dport {{ {}, {} }}",
                    ip(r.public_v4().to_bits() as u64 & !255),
                    1 + r.below(1024),
                    1024 + r.below(4096)
                ),
                2 => write!(s, " tcp dport {{ 22, 80, 443 }} ct state new"),
                3 => write!(
                    s,
                    " ip daddr . tcp dport {{ {} . 443, {} . 8443 }}",
                    r.public_v4(),
                    r.public_v4()
                ),
                4 => write!(s, " icmp type echo-request"),
                _ => write!(
                    s,
                    " meta l4proto tcp th dport {}-{}",
                    1024,
                    1024 + r.below(30000)
                ),
            };
            s.push_str(match r.below(5) {
                0 | 1 => " accept\n",
                2 => " counter drop\n",
                3 => " log prefix \"net: \" drop\n",
                _ => " reject with icmp type admin-prohibited\n",
            });
        }
        s.push_str("  }\n");
    }
    s.push_str("}\n");
    s
}
