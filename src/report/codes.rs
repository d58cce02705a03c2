//! What each finding and warning code means, why it matters and what to do:
//! `octaverify explain CODE`, and the help of each SARIF rule.

/// One code of the reports.
pub struct Code {
    pub code: &'static str,
    /// `finding` (a requirement fails, or cannot be decided) or `warning`.
    pub kind: &'static str,
    /// One line.
    pub title: &'static str,
    /// What it means and what to do, a paragraph or two.
    pub help: &'static str,
}

pub const CODES: &[Code] = &[
    Code {
        code: "missing",
        kind: "finding",
        title: "required traffic that no rule accepts",
        help: "Part of the traffic a requirement needs (the space is given exactly, as ranges) reaches no rule that accepts it, so the chain's default policy, an explicit drop or a list's implicit deny decides. The report cites the deciding line and a witness packet from the space. Add the suggested rule where it says (above the blocking rule, or at the end of the chain before its policy); it is written in the export's own syntax.",
    },
    Code {
        code: "shadowed",
        kind: "finding",
        title: "an accepting rule that an earlier rule hides",
        help: "A rule would accept the traffic, but an earlier rule drops or rejects it first: the classic case is a DROP for UDP 137-139 above the dialler's ACCEPT. Both rules are cited, the blocking one first. Move the accepting rule above the blocking one, narrow the blocking rule, or add the suggested rule above it.",
    },
    Code {
        code: "reply-blocked",
        kind: "finding",
        title: "the requests pass, their replies do not",
        help: "The dialler's connection-opening packets are accepted, but the replies (ports swapped, ESTABLISHED, ICMP echo reply) are dropped on their way back. On stateful firewalls this usually means a missing `ct state established,related accept` / `-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`, or a drop in a chain before connection tracking; on Cisco IOS access lists, which are stateless, a missing `established` entry (TCP) or an explicit entry for the replies (UDP, ICMP echo-reply).",
    },
    Code {
        code: "unknown",
        kind: "finding",
        title: "the answer depends on something octaverify does not model",
        help: "Whether this traffic works depends on a construct whose meaning is not in the export or not modelled (a rate limit, a set filled at run time, `-m recent`, a time range, DNAT, the addresses a DNS name resolves to …). octaverify never guesses: the cited rule and its construct are named, and the status is `unknown`. Make the rule independent of the construct for this traffic, or give what is missing (for DNS names: their addresses under [resolve]).",
    },
    Code {
        code: "broad-source",
        kind: "warning",
        title: "a rule for the dialler accepts a broader source (advisory)",
        help: "A rule that lets the dialler's traffic through has a source broader than the dialler, typically `192.168.1.10/24`, which is the whole 192.168.1.0/24 (the vendor's own examples write it so). The dialler works, but every host of that network gets the same access. Write the dialler's address as a host (/32, /128, `host`). Fails the check with --strict.",
    },
    Code {
        code: "web-beyond-management",
        kind: "warning",
        title: "the dialler's web interface is reachable beyond the management PCs (advisory)",
        help: "TCP 80 to the dialler is accepted from sources other than the management PCs (the dialler's own subnet and the site's other diallers aside). The web interface configures the alarm dialler; only the management PCs need it. Allow TCP 80 to the dialler from the management PCs alone. Fails the check with --strict.",
    },
    Code {
        code: "internal-reach",
        kind: "warning",
        title: "the dialler can reach internal networks (advisory)",
        help: "The dialler can open connections into private networks (RFC 1918, IPv6 unique local addresses) other than its DNS servers. It needs only the internet and its DNS servers; the vendor advises putting it in a network of its own (a VLAN), kept out of the internal ones. Drop the dialler's traffic to internal networks before the rules that let it out. Fails the check with --strict.",
    },
    Code {
        code: "pinned-address",
        kind: "warning",
        title: "the Octalarm servers are let through by address, not by name (advisory)",
        help: "In a dns-* option, a rule lets the dialler reach the Octalarm servers by their current addresses, written as literals. The vendor warns that these addresses change, and the rule then blocks the dialler. Match the DNS names where the firewall can (ASA fqdn objects, an nft set a resolver keeps filled and [sets] names), or keep the addresses in step with [resolve]. Fails the check with --strict.",
    },
    Code {
        code: "no-dialler6",
        kind: "warning",
        title: "the export filters IPv6 but no IPv6 dialler address is given",
        help: "The export has IPv6 rules (ip6tables, nft ip6 or inet tables, Cisco IPv6 lists), but the site gives no IPv6 address of the dialler, so no IPv6 requirement was checked. If the dialler has an IPv6 address, give it as dialler6 in octaverify.toml or with --dialler6.",
    },
    Code {
        code: "no-forward-path",
        kind: "warning",
        title: "nothing in the export filters traffic that crosses the firewall",
        help: "No chain of the export is on the forward path (ingress, prerouting, forward, postrouting or egress hooks): it is a host firewall, which filters only the machine's own traffic. Every requirement holds here, but the dialler's traffic may meet a firewall that this export does not describe. Check the export of the router the dialler's traffic crosses.",
    },
    Code {
        code: "unreachable-chain",
        kind: "warning",
        title: "a chain that nothing jumps to",
        help: "A user chain holds rules, but no rule jumps or goes to it, so its rules never apply. It is often a forgotten `-j CHAIN` or a renamed chain. Jump to it from where it was meant to apply, or remove it.",
    },
    Code {
        code: "interfaces-unpinned",
        kind: "warning",
        title: "results that depend on interface names the site does not give",
        help: "The rules match on interfaces, and some findings hold only for some interface names, because the site does not say where the dialler's traffic enters and leaves. Give lan, wan (and management) under [interfaces] in octaverify.toml, or --lan/--wan, to check just those.",
    },
    Code {
        code: "interfaces-inferred",
        kind: "warning",
        title: "interfaces taken from the router's configuration",
        help: "The site gives no [interfaces], so the LAN side was taken to be the interface whose subnet holds the dialler, the WAN side the one the default route leaves by, and the management side the one reaching the management PCs. If that is not where the traffic goes, give them under [interfaces].",
    },
    Code {
        code: "not-evaluated",
        kind: "warning",
        title: "something the export holds that the check leaves out",
        help: "A part of the export was read but is not on the dialler's path, or cannot be evaluated: a table of a family that does not filter IP (bridge, arp), a chain on a hook outside the forward path, a list bound to no interface, an inactive entry, a JSON object of an unknown kind. The message says which and why.",
    },
    Code {
        code: "shadowed-rule",
        kind: "lint",
        title: "a rule that never applies",
        help: "No packet that reaches this rule matches it: earlier rules take every packet it matches (lint names them, the largest one with another action first), no packet it matches enters its chain, or its own conditions contradict each other. The rule is dead; if it was meant to apply, move it above the rules that take its packets, else remove it.",
    },
    Code {
        code: "redundant-rule",
        kind: "lint",
        title: "a rule that changes nothing",
        help: "Every packet this rule decides would meet the same fate without it: the rules after it in its chain (or the chain's policy) decide them the same way. Removing it changes no packet's fate. Lint does not follow packets back into a calling chain, so a rule whose packets would return there is never called redundant.",
    },
    Code {
        code: "unmodelled-rule",
        kind: "lint",
        title: "a rule whose effect depends on what octaverify does not model",
        help: "Some packets reach this rule, and whether it matches them, or what it does to them, depends on a construct octaverify does not model (a rate limit, a set filled at run time, a time range, DNAT, an fqdn object …). Checks of traffic through it come out unknown where it matters.",
    },
    Code {
        code: "status-changed",
        kind: "diff",
        title: "a requirement whose status the change alters",
        help: "Between the old and the new version, this requirement's status changes (allowed, partial, blocked, unknown). A change towards blocked is a change that breaks the alarm dialler; check the new version with `octaverify check` for its findings and fixes.",
    },
    Code {
        code: "newly-accepted",
        kind: "diff",
        title: "packets the new version accepts and the old one dropped",
        help: "The forward path of the new version accepts these packets (given exactly, with a witness), which the old one dropped. The rule that decides the witness in each version is cited. Make sure the change means to open them.",
    },
    Code {
        code: "newly-dropped",
        kind: "diff",
        title: "packets the new version drops and the old one accepted",
        help: "The forward path of the new version drops these packets (given exactly, with a witness), which the old one accepted. The rule that decides the witness in each version is cited. Make sure the change means to close them, and that none of them is the dialler's.",
    },
    Code {
        code: "no-syn-ack",
        kind: "pcap",
        title: "a TCP connection the dialler opened got no SYN-ACK",
        help: "The capture shows the dialler's SYNs (sent again, when it retried) and no answer. A firewall that drops them, or drops the SYN-ACK coming back (no ESTABLISHED rule), looks like this; with --ruleset the report says whether the ruleset drops the SYN or its answer, and by which rule. If the ruleset passes both, the cause is elsewhere: another firewall, the server, the route.",
    },
    Code {
        code: "reset",
        kind: "pcap",
        title: "a TCP connection the dialler opened was reset",
        help: "A reset came back: the server refused the port, or a firewall on the way answered for it (iptables REJECT --reject-with tcp-reset, an ASA reset). With --ruleset the report says whether this ruleset rejects it.",
    },
    Code {
        code: "stalled",
        kind: "pcap",
        title: "a TCP connection the dialler opened stalled after the handshake",
        help: "The handshake completed, then the dialler sent data again and again and it was never acknowledged. The ports are open, so the packet filter lets the connection through; what drops the data is something that looks into it (a filtering proxy, an intrusion prevention system, TLS inspection) or a path that loses large packets (an MTU black hole: ICMP 'fragmentation needed' dropped). With --ruleset the report says whether this ruleset passes the first packet and its answer.",
    },
    Code {
        code: "dns-error",
        kind: "pcap",
        title: "a DNS query of the dialler's was answered with an error",
        help: "The DNS server answered, so the query and its answer passed the firewall, but the answer is an error: NXDOMAIN (the name does not exist: a typing error in the dialler's settings, or a split-horizon DNS that does not know it), SERVFAIL (the server could not resolve it: its own upstream is blocked or broken), REFUSED (the server does not serve the dialler: give the dialler a DNS server that does).",
    },
    Code {
        code: "no-answer",
        kind: "pcap",
        title: "UDP (a DNS query, say) the dialler sent got no answer",
        help: "The dialler sent datagrams on this flow and nothing came back. A firewall that drops them, or drops the answers (no ESTABLISHED rule for UDP), looks like this; with --ruleset the report says whether the ruleset drops the datagram or the answer, and by which rule.",
    },
    Code {
        code: "no-echo-reply",
        kind: "pcap",
        title: "ICMP echo requests the dialler sent got no reply",
        help: "The dialler pings the server to see whether it is reachable. No reply came: the request or the reply is dropped on the way (with --ruleset: whether by this ruleset, and by which rule), or the server does not answer pings.",
    },
    Code {
        code: "icmp-error",
        kind: "pcap",
        title: "an ICMP error came back about the dialler's traffic",
        help: "A host or firewall answered the dialler's packets with an ICMP error: unreachable (network, host, port) or administratively prohibited (a firewall that rejects with an ICMP message: iptables REJECT, nft reject, an ACL with icmp unreachables). The message names the type and code; with --ruleset the report says whether this ruleset rejects it.",
    },
    Code {
        code: "unanswered-by-dialler",
        kind: "pcap",
        title: "traffic reached the dialler, which did not answer",
        help: "A connection from outside (the web interface from a management PC, say) reached the dialler: the firewall let it in, so the cause is not there. Check the dialler's own settings (its web interface, the addresses it accepts).",
    },
];

/// The code's entry, if it is one.
pub fn find(code: &str) -> Option<&'static Code> {
    CODES.iter().find(|c| c.code == code)
}
