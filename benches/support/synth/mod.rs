//! Generators of large, realistic firewall exports for benchmarks and
//! whole-run measurements. Each is seeded and deterministic (the same size
//! always gives the same bytes) and embeds the same dialler scenario, so a
//! check has something to decide: the dialler 192.168.1.10 behind the
//! firewall, the management PCs 10.0.0.30 and 172.16.3.40, the DNS servers
//! 192.168.1.254 and 8.8.8.8 (the [`SITE`] flags).

#![allow(dead_code)] // each bench and the example use a part of it

mod asa;
mod enterprise;
mod ios;
mod kube;
mod nft;

/// The site every generated export is written for, as `octaverify` flags.
pub const SITE: [&str; 6] = [
    "--dialler",
    "192.168.1.10",
    "--management",
    "10.0.0.30,172.16.3.40",
    "--dns-servers",
    "192.168.1.254,8.8.8.8",
];

/// The kinds of export there are generators for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Kubernetes node's iptables-save: kube-proxy's nat and filter chains
    /// (services, endpoints, `-m statistic`, comments), beside the site's own.
    Kube,
    /// An iptables-save whose forward path meets fail2ban-style ban lists of
    /// single addresses, inserted above the stateful accept.
    Fail2ban,
    /// An iptables-save of a company firewall: per-subnet user chains with
    /// mixed matches and targets.
    Enterprise,
    /// An nftables ruleset with a large interval set, verdict maps and a
    /// tenth as many rules as elements, over many chains.
    Nft,
    /// A Cisco IOS configuration with one long extended list of object-groups.
    Ios,
    /// A Cisco ASA configuration with one long access-list of object-groups.
    Asa,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Kube,
        Kind::Fail2ban,
        Kind::Enterprise,
        Kind::Nft,
        Kind::Ios,
        Kind::Asa,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Kube => "kube",
            Kind::Fail2ban => "fail2ban",
            Kind::Enterprise => "enterprise",
            Kind::Nft => "nft",
            Kind::Ios => "ios",
            Kind::Asa => "asa",
        }
    }

    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// A file name extension that tells the format.
    pub fn extension(self) -> &'static str {
        match self {
            Kind::Kube | Kind::Fail2ban | Kind::Enterprise => "rules",
            Kind::Nft => "nft",
            Kind::Ios => "ios",
            Kind::Asa => "asa",
        }
    }

    /// An export of about `size` rules (ACL entries; set elements for nft).
    pub fn generate(self, size: usize) -> String {
        match self {
            Kind::Kube => kube::ruleset(size),
            Kind::Fail2ban => enterprise::fail2ban(size),
            Kind::Enterprise => enterprise::ruleset(size),
            Kind::Nft => nft::ruleset(size),
            Kind::Ios => ios::config(size),
            Kind::Asa => asa::config(size),
        }
    }
}

/// A small deterministic generator (xorshift), so every run sees the same file.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    /// A public-looking IPv4 address (first octet 1-223, not 10, 127, 172 or 192).
    pub fn public_v4(&mut self) -> std::net::Ipv4Addr {
        let a = loop {
            let a = 1 + self.below(223) as u8;
            if !matches!(a, 10 | 127 | 172 | 192 | 100 | 169) {
                break a;
            }
        };
        std::net::Ipv4Addr::new(
            a,
            self.below(256) as u8,
            self.below(256) as u8,
            1 + self.below(254) as u8,
        )
    }
}

impl Kind {
    /// The sizes the benchmark suite runs this kind at.
    pub fn bench_sizes(self) -> &'static [usize] {
        match self {
            Kind::Kube => &[1_000, 10_000, 100_000, 1_000_000],
            _ => &[1_000, 10_000, 100_000],
        }
    }

    /// The next version of a generated export, as a pre-change review sees
    /// it: the dialler's UDP accept narrowed to the high ports.
    pub fn next_version(self, text: &str) -> String {
        let (old, new) = match self {
            Kind::Kube | Kind::Fail2ban | Kind::Enterprise => (
                "-A OCTALARM -p udp -j ACCEPT",
                "-A OCTALARM -p udp -m udp --dport 1024:65535 -j ACCEPT",
            ),
            Kind::Nft => (
                "ip saddr 192.168.1.10 meta l4proto udp accept",
                "ip saddr 192.168.1.10 udp dport 1024-65535 accept",
            ),
            Kind::Ios => (
                " permit udp host 192.168.1.10 any\n",
                " permit udp host 192.168.1.10 any gt 1023\n",
            ),
            Kind::Asa => (
                "permit udp object OCTALARM-DIALLER any\n",
                "permit udp object OCTALARM-DIALLER any gt 1023\n",
            ),
        };
        assert!(text.contains(old), "{} exports hold `{old}`", self.name());
        text.replacen(old, new, 1)
    }
}
