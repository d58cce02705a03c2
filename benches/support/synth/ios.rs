//! A Cisco IOS configuration with one long extended access list.

use super::Rng;

/// A Cisco IOS configuration whose LAN-side list has `entries` entries,
/// most of them naming object-groups (network groups of hosts, service
/// groups of ports), with the dialler's entries near the end.
pub fn config(entries: usize) -> String {
    let mut r = Rng(0x6a09_e667_f3bc_c908);
    let groups = (entries / 250).max(4);
    let mut s = String::with_capacity(entries * 64);
    s.push_str("! synthetic IOS benchmark input\nhostname bench\n!\n");
    for g in 0..groups {
        s.push_str(&format!("object-group network HOSTS{g}\n"));
        for h in 0..20 {
            s.push_str(&format!(
                " host 10.{}.{}.{}\n",
                g % 200,
                h,
                1 + r.below(250)
            ));
        }
        s.push_str(&format!(
            " 172.{}.{}.0 255.255.255.0\n",
            16 + g % 16,
            g % 250
        ));
        s.push_str(&format!("object-group service PORTS{g}\n"));
        for _ in 0..5 {
            s.push_str(&format!(" tcp eq {}\n", 1 + r.below(65000)));
        }
        s.push_str(&format!(" udp range {} {}\n", 1000 + g, 2000 + g));
    }
    s.push_str("interface GigabitEthernet0/0\n ip address 203.0.113.2 255.255.255.252\n ip access-group WAN-IN in\n!\n");
    s.push_str("interface GigabitEthernet0/1\n ip address 192.168.1.1 255.255.255.0\n ip access-group LAN-IN in\n!\n");
    s.push_str("ip route 0.0.0.0 0.0.0.0 203.0.113.1\n!\nip access-list extended LAN-IN\n");
    for i in 0..entries.saturating_sub(8) {
        let g = r.below(groups as u64);
        let line = match i % 4 {
            0 => format!("permit object-group PORTS{g} object-group HOSTS{g} any"),
            1 => format!(
                "deny tcp object-group HOSTS{g} any eq {}",
                1 + r.below(65000)
            ),
            2 => format!(
                "permit udp 10.{}.0.0 0.0.255.255 host 198.51.100.{} range {} {}",
                g % 200,
                r.below(250),
                1024 + r.below(1000),
                3000 + r.below(1000)
            ),
            _ => format!(
                "deny ip host 10.{}.{}.{} any",
                g % 200,
                r.below(250),
                r.below(250)
            ),
        };
        s.push_str(&format!(" {line}\n"));
    }
    s.push_str(
        " deny udp 192.168.1.0 0.0.0.255 any range netbios-ns netbios-ss\n\
         \x20permit tcp host 192.168.1.10 any eq 443\n\
         \x20permit tcp host 192.168.1.10 any eq domain\n\
         \x20permit udp host 192.168.1.10 any\n\
         \x20permit icmp host 192.168.1.10 any echo\n\
         \x20deny ip any any log\n\
         ip access-list extended WAN-IN\n\
         \x20permit tcp any host 192.168.1.10 established\n\
         \x20permit udp any host 192.168.1.10\n\
         \x20permit icmp any host 192.168.1.10 echo-reply\n",
    );
    s
}
