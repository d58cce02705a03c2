//! A Cisco ASA configuration with one long access-list on the inside
//! interface, most entries naming object-groups, and the dialler's entries
//! near its end.

use super::Rng;
use std::fmt::Write;

/// A configuration whose INSIDE_IN list has about `entries` entries.
pub fn config(entries: usize) -> String {
    let mut r = Rng(0xbb67_ae85_84ca_a73b);
    let groups = (entries / 250).max(4);
    let mut s = String::with_capacity(entries * 96 + groups * 600 + 4096);
    s.push_str(concat!(
        ": Saved\n: synthetic ASA benchmark input\n:\nASA Version 9.18(3)56\n!\nhostname bench\n!\n",
        "interface GigabitEthernet0/0\n nameif outside\n security-level 0\n ip address 203.0.113.2 255.255.255.252\n!\n",
        "interface GigabitEthernet0/1\n nameif inside\n security-level 100\n ip address 192.168.1.1 255.255.255.0\n!\n",
        "interface GigabitEthernet0/2\n nameif mgmt\n security-level 50\n ip address 10.0.0.1 255.255.255.0\n!\n",
        "object network OCTALARM-DIALLER\n host 192.168.1.10\n",
        "object-group network MGMT-PCS\n network-object host 10.0.0.30\n network-object host 172.16.3.40\n",
    ));
    for g in 0..groups {
        let _ = writeln!(s, "object-group network HOSTS{g}");
        for h in 0..20 {
            let _ = writeln!(
                s,
                " network-object host 10.{}.{}.{}",
                g % 200,
                h,
                1 + r.below(250)
            );
        }
        let _ = writeln!(
            s,
            " network-object 172.{}.{}.0 255.255.255.0",
            16 + g % 16,
            g % 250
        );
        let _ = writeln!(s, "object-group service PORTS{g} tcp");
        for _ in 0..5 {
            let _ = writeln!(s, " port-object eq {}", 1 + r.below(65000));
        }
        let _ = writeln!(s, " port-object range {} {}", 1000 + g, 2000 + g);
    }
    for i in 0..entries.saturating_sub(8) {
        let g = r.below(groups as u64);
        let _ = match i % 5 {
            0 => writeln!(
                s,
                "access-list INSIDE_IN extended permit tcp object-group HOSTS{g} any object-group PORTS{g}"
            ),
            1 => writeln!(
                s,
                "access-list INSIDE_IN extended deny tcp object-group HOSTS{g} any eq {}",
                1 + r.below(65000)
            ),
            2 => writeln!(
                s,
                "access-list INSIDE_IN extended permit udp 10.{}.0.0 255.255.0.0 host 198.51.100.{} range {} {}",
                g % 200,
                r.below(250),
                1024 + r.below(1000),
                3000 + r.below(1000)
            ),
            3 => writeln!(
                s,
                "access-list INSIDE_IN remark ticket CHG-{} (group {g})",
                r.below(100_000)
            ),
            _ => writeln!(
                s,
                "access-list INSIDE_IN extended deny ip host 10.{}.{}.{} any log",
                g % 200,
                r.below(250),
                r.below(250)
            ),
        };
    }
    s.push_str(concat!(
        "access-list INSIDE_IN extended permit tcp object OCTALARM-DIALLER any eq https\n",
        "access-list INSIDE_IN extended permit tcp object OCTALARM-DIALLER any eq domain\n",
        "access-list INSIDE_IN extended permit udp object OCTALARM-DIALLER any eq domain\n",
        "access-list INSIDE_IN extended permit udp object OCTALARM-DIALLER any\n",
        "access-list INSIDE_IN extended permit icmp object OCTALARM-DIALLER any echo\n",
        "access-list INSIDE_IN extended deny ip any any log\n",
        "access-list MGMT_IN extended permit tcp object-group MGMT-PCS object OCTALARM-DIALLER eq www\n",
        "access-list MGMT_IN extended permit icmp object-group MGMT-PCS object OCTALARM-DIALLER echo\n",
        "access-list MGMT_IN extended deny ip any object OCTALARM-DIALLER\n",
        "access-list MGMT_IN extended permit ip any any\n",
        "object network OCTALARM-DIALLER\n nat (inside,outside) dynamic interface\n",
        "access-group INSIDE_IN in interface inside\n",
        "access-group MGMT_IN in interface mgmt\n",
        "route outside 0.0.0.0 0.0.0.0 203.0.113.1 1\n",
        "route mgmt 172.16.0.0 255.240.0.0 10.0.0.254 1\n",
        "policy-map global_policy\n class inspection_default\n  inspect dns preset_dns_map\n  inspect icmp\n!\n",
        "service-policy global_policy global\n: end\n",
    ));
    s
}
