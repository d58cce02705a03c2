//! The iptables front-end on hostile input: whatever the bytes, it answers
//! with a policy or a located error, and never panics.

use proptest::prelude::*;

const WORDS: &[&str] = &[
    "*filter",
    "*nat",
    "*raw",
    ":FORWARD",
    ":X",
    "DROP",
    "ACCEPT",
    "-",
    "[0:0]",
    "[1:2",
    "COMMIT",
    "-A",
    "-I",
    "-N",
    "-P",
    "-F",
    "-X",
    "FORWARD",
    "X",
    "-s",
    "-d",
    "!",
    "10.0.0.0/8",
    "1.2.3.4/33",
    "::1",
    "host.example",
    "-p",
    "tcp",
    "udp",
    "icmp",
    "-m",
    "tcp",
    "multiport",
    "conntrack",
    "recent",
    "--dport",
    "--dports",
    "--ports",
    "1:2",
    "65536",
    "80,443",
    "--ctstate",
    "NEW,ESTABLISHED",
    "--icmp-type",
    "echo-request",
    "3/4",
    "--tcp-flags",
    "SYN,ACK",
    "SYN",
    "-j",
    "-g",
    "REJECT",
    "--reject-with",
    "LOG",
    "--log-prefix",
    "\"a b\"",
    "\"open",
    "SNAT",
    "--to-source",
    "1.1.1.1-1.1.1.9",
    "MASQUERADE",
    "-i",
    "eth+",
    "-o",
    "ppp0",
    "-c",
    "5",
    "-4",
    "-6",
    "#",
    "\t",
    "\r",
    "\u{0}",
    "é",
];

fn line() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 0..12).prop_map(|w| w.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any sequence of iptables-like words is either loaded or refused with an error.
    #[test]
    fn token_soup_never_panics(lines in prop::collection::vec(line(), 0..12)) {
        let text = lines.join("\n");
        let _ = octaverify::frontend::load("soup.rules", text.into_bytes(), None);
    }

    /// Arbitrary bytes are refused or loaded, never a panic.
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = octaverify::frontend::load("bytes.rules", bytes, None);
    }

    /// Every error points inside the input: a line that exists and a column on it.
    #[test]
    fn errors_are_located_in_the_input(lines in prop::collection::vec(line(), 1..8)) {
        let text = lines.join("\n");
        if let Err(octaverify::diag::Error::Input(e)) = octaverify::frontend::load("soup.rules", text.clone().into_bytes(), None) {
            let n = text.split('\n').count().max(1) as u32;
            prop_assert!(e.line >= 1 && e.line <= n, "line {} of {}", e.line, n);
            prop_assert!(e.col as usize <= e.line_text.chars().count() + 1);
            let _ = e.render(false);
        }
    }
}

/// Words of the nftables language and near misses, for token soups.
const NFT_WORDS: &[&str] = &[
    "table",
    "inet",
    "ip",
    "ip6",
    "bridge",
    "filter",
    "t",
    "chain",
    "forward",
    "prerouting",
    "{",
    "}",
    "{",
    "}",
    ";",
    "\n",
    "type",
    "hook",
    "priority",
    "raw",
    "-",
    "10",
    "policy",
    "drop",
    "accept",
    "reject",
    "jump",
    "goto",
    "return",
    "c",
    "set",
    "s",
    "map",
    "vmap",
    "elements",
    "=",
    "flags",
    "interval",
    "@",
    "s",
    "$",
    "v",
    "define",
    "include",
    "\"x.nft\"",
    "flush",
    "ruleset",
    "add",
    "insert",
    "rule",
    "element",
    "delete",
    "index",
    "0",
    "saddr",
    "daddr",
    "10.0.0.0/8",
    "1.2.3.4-1.2.3.9",
    "::1",
    "tcp",
    "udp",
    "th",
    "dport",
    "sport",
    "1-5",
    "{",
    "53,",
    "80",
    "}",
    ".",
    ":",
    ",",
    "!=",
    "==",
    "<",
    ">=",
    "&",
    "|",
    "(",
    ")",
    "/",
    "syn",
    "ack",
    "ct",
    "state",
    "established,related",
    "new",
    "meta",
    "l4proto",
    "iifname",
    "\"eth*\"",
    "oif",
    "icmp",
    "icmpv6",
    "code",
    "echo-request",
    "limit",
    "rate",
    "5/second",
    "counter",
    "log",
    "masquerade",
    "snat",
    "to",
    "[::1]:80",
    "fib",
    "mark",
    "comment",
    "\"a b\"",
    "\"open",
    "*",
    "\\",
    "#",
    "\t",
    "é",
    "\u{0}",
];

fn nft_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(NFT_WORDS), 0..80).prop_map(|w| w.join(" "))
}

/// JSON documents built from nft-like objects with random contents.
fn nft_json() -> impl Strategy<Value = String> {
    let value = prop::sample::select(
        &[
            "null",
            "1",
            "\"10.0.0.1\"",
            "\"eth*\"",
            "[\"syn\", \"ack\"]",
            "{\"set\": [1, {\"range\": [2, 9]}]}",
            "{\"prefix\": {\"addr\": \"10.0.0.0\", \"len\": 8}}",
            "{\"payload\": {\"protocol\": \"tcp\", \"field\": \"dport\"}}",
            "{\"meta\": {\"key\": \"l4proto\"}}",
            "{\"ct\": {\"key\": \"state\"}}",
            "{\"fib\": {}}",
            "\"@s\"",
            "{\"concat\": [1, \"a\"]}",
            "{\"accept\": null}",
            "{\"jump\": {\"target\": \"c\"}}",
            "{}",
            "[]",
        ][..],
    );
    let stmt = (
        value.clone(),
        value.clone(),
        prop::sample::select(&["==", "!=", "in", "<", "&"][..]),
    )
        .prop_map(|(l, r, op)| {
            format!("{{\"match\": {{\"op\": \"{op}\", \"left\": {l}, \"right\": {r}}}}}")
        });
    let verdict = prop::sample::select(
        &[
            "{\"accept\": null}",
            "{\"drop\": null}",
            "{\"jump\": {\"target\": \"c\"}}",
            "{\"counter\": null}",
            "{\"limit\": {\"rate\": 1}}",
            "{\"xt\": null}",
            "{\"vmap\": {\"key\": {\"meta\": {\"key\": \"iifname\"}}, \"data\": {\"set\": [[\"eth0\", {\"accept\": null}]]}}}",
        ][..],
    );
    let rule = (prop::collection::vec(stmt, 0..3), verdict).prop_map(|(m, v)| {
        let mut e = m;
        e.push(v.to_string());
        format!("{{\"rule\": {{\"family\": \"inet\", \"table\": \"t\", \"chain\": \"f\", \"handle\": 3, \"expr\": [{}]}}}}", e.join(", "))
    });
    let head = "{\"table\": {\"family\": \"inet\", \"name\": \"t\"}}, {\"chain\": {\"family\": \"inet\", \"table\": \"t\", \"name\": \"f\", \"type\": \"filter\", \"hook\": \"forward\", \"prio\": 0, \"policy\": \"drop\"}}, {\"chain\": {\"family\": \"inet\", \"table\": \"t\", \"name\": \"c\"}}, {\"set\": {\"family\": \"inet\", \"table\": \"t\", \"name\": \"s\", \"type\": \"ipv4_addr\", \"elem\": [\"10.0.0.1\"]}}";
    (
        prop::collection::vec(rule, 0..6),
        prop::sample::select(&["", ", {\"flowtable\": {}}", ", 7", ", {"][..]),
    )
        .prop_map(move |(rules, tail)| {
            let mut objs = vec![head.to_string()];
            objs.extend(rules);
            format!("{{\"nftables\": [{}{tail}]}}", objs.join(", "))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any sequence of nftables-like words is loaded or refused with an
    /// error that points inside the input, never a panic.
    #[test]
    fn nft_soup_never_panics(text in nft_text()) {
        let text = format!("table inet t {{\n{text}\n}}\n");
        if let Err(octaverify::diag::Error::Input(e)) = octaverify::frontend::load("soup.nft", text.clone().into_bytes(), Some(octaverify::model::Format::Nft)) {
            let n = text.split('\n').count() as u32;
            prop_assert!(e.line >= 1 && e.line <= n, "line {} of {}", e.line, n);
            let _ = e.render(false);
        }
    }

    /// Random `nft -j` documents: loaded, or refused at a place in the JSON.
    #[test]
    fn nft_json_never_panics(text in nft_json()) {
        match octaverify::frontend::load("soup.json", text.clone().into_bytes(), None) {
            Ok(p) => {
                // Every rule points at the JSON, and reads as the script written from it.
                for c in &p.chains {
                    for r in &c.rules {
                        prop_assert_eq!(r.span.file, 0);
                        prop_assert!(r.written().is_some_and(|w| w.file == 1));
                    }
                }
            }
            Err(octaverify::diag::Error::Input(e)) => {
                prop_assert!(e.path == "soup.json", "error names {}", e.path);
                let _ = e.render(false);
            }
            Err(_) => {}
        }
    }
}

/// Words of Cisco IOS and ASA configurations and near misses.
const CISCO_WORDS: &[&str] = &[
    "access-list",
    "ip",
    "ipv6",
    "extended",
    "standard",
    "permit",
    "deny",
    "remark",
    "tcp",
    "udp",
    "icmp",
    "gre",
    "any",
    "any4",
    "host",
    "192.168.1.10",
    "10.0.0.0",
    "0.0.0.255",
    "0.0.0.254",
    "255.255.255.0",
    "255.0.255.0",
    "10.0.0.0/8",
    "eq",
    "neq",
    "lt",
    "gt",
    "range",
    "www",
    "domain",
    "https",
    "65536",
    "established",
    "echo",
    "echo-reply",
    "log",
    "time-range",
    "inactive",
    "object",
    "object-group",
    "network",
    "service",
    "protocol",
    "icmp-type",
    "port",
    "network-object",
    "service-object",
    "port-object",
    "group-object",
    "G",
    "H",
    "interface",
    "Gi0/1",
    "nameif",
    "inside",
    "security-level",
    "100",
    "access-group",
    "in",
    "out",
    "global",
    "route",
    "outside",
    "0.0.0.0",
    "line",
    "1",
    "10",
    "sequence",
    "resequence",
    "no",
    "Extended",
    "IP",
    "list",
    "101",
    "(3",
    "matches)",
    "match-all",
    "+syn",
    "-ack",
    "same-security-traffic",
    "inter-interface",
    "policy-map",
    "inspect",
    "!",
    ":",
    "fqdn",
    "a.example",
    "net-group",
    "port-group",
    "protocol-object",
    "icmp-object",
    "é",
];

fn cisco_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::bool::ANY,
            prop::collection::vec(prop::sample::select(CISCO_WORDS), 1..10),
        ),
        0..25,
    )
    .prop_map(|lines| {
        lines
            .into_iter()
            .map(|(indent, w)| format!("{}{}", if indent { " " } else { "" }, w.join(" ")))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any IOS-like or ASA-like text is loaded and checked, or refused at
    /// a line of the input, never a panic.
    #[test]
    fn cisco_soup_never_panics(text in cisco_text(), asa in prop::bool::ANY) {
        let format = if asa { octaverify::model::Format::CiscoAsa } else { octaverify::model::Format::CiscoIos };
        match octaverify::frontend::load("soup.cfg", text.clone().into_bytes(), Some(format)) {
            Ok(policy) => {
                let o = octaverify::site::Overrides {
                    dialler: Some(vec!["192.168.1.10".parse().unwrap()]),
                    management: Some(vec!["10.0.0.30/32".parse().unwrap()]),
                    config: Some("/dev/null".into()),
                    ..Default::default()
                };
                let site = octaverify::site::Site::load(std::path::Path::new("soup.cfg"), &o).unwrap();
                let reqs = octaverify::requirements::RequirementSet::builtin();
                prop_assert!(octaverify::check::check(&policy, &site, &reqs).is_ok());
            }
            Err(octaverify::diag::Error::Input(e)) => {
                let n = text.split('\n').count().max(1) as u32;
                prop_assert!(e.line >= 1 && e.line <= n, "line {} of {}", e.line, n);
                let _ = e.render(false);
            }
            Err(_) => {}
        }
    }
}
