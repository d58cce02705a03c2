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
