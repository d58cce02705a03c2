//! The symbolic evaluator against the concrete one, on random iptables-save
//! rulesets (several tables, user chains, jumps, gotos, RETURN, negations,
//! unmodelled matches and targets), on random nftables rulesets (several
//! base chains per hook, named and anonymous sets, concatenations, verdict
//! maps, tcp flags, rate limits), on random ASA configurations (interface
//! and global lists, security levels, stateful scope, ICMP inspection) and
//! random packets.

use octaverify::eval::concrete;
use octaverify::eval::symbolic;
use octaverify::space::{Packet, PacketSet};
use proptest::prelude::*;

#[allow(dead_code, reason = "the kernel test uses more of it")]
#[path = "support/random.rs"]
mod random;
use random::{Rng, Shape, gen_asa_config, gen_nft_ruleset, gen_packet, gen_ruleset, region};

/// Loads a generated ruleset and checks, for random packets, that the
/// verdict the symbolic partition gives equals the verdict of evaluating
/// that one packet concretely, first match.
fn agree(name: &str, text: String, r: &mut Rng) -> Result<(), TestCaseError> {
    agree_on(&load(name, &text), &text, r)
}

fn load(name: &str, text: &str) -> octaverify::model::Policy {
    octaverify::frontend::load(name, text.as_bytes().to_vec(), None)
        .unwrap_or_else(|e| panic!("generated ruleset does not parse: {e}\n{text}"))
}

/// The same set, whatever its cubes.
fn same(a: &PacketSet, b: &PacketSet) -> bool {
    a.difference(b).is_empty() && b.difference(a).is_empty()
}

/// A policy whose DNS names are bound gives the verdicts of the same
/// configuration with the names' addresses written out in their place (or,
/// for the name the traffic is assumed to go to, every address), and agrees
/// with the concrete evaluator.
fn names_agree(text: &str, r: &mut Rng) -> Result<(), TestCaseError> {
    use octaverify::model::NameBinding;
    use std::collections::BTreeMap;
    let policy = load("random.asa", text);
    let mut resolved: BTreeMap<String, Vec<ipnet::IpNet>> = BTreeMap::new();
    let assumed = r.chance(50).then_some("a.example");
    let mut written = text.to_string();
    for (name, line) in [
        ("a.example", " network-object object FQ-A\n"),
        ("b.example", " network-object object FQ-B\n"),
    ] {
        if assumed == Some(name) {
            written = written.replace(line, " network-object 0.0.0.0 0.0.0.0\n");
        } else if r.chance(70) {
            let addrs: Vec<ipnet::IpNet> = (0..r.below(3))
                .map(|_| {
                    ipnet::IpNet::from(
                        format!("10.0.0.{}", r.below(9))
                            .parse::<std::net::IpAddr>()
                            .unwrap(),
                    )
                })
                .collect();
            let hosts: String = addrs
                .iter()
                .map(|a| format!(" network-object host {}\n", a.addr()))
                .collect();
            written = written.replace(line, &hosts);
            resolved.insert(name.to_string(), addrs);
        }
    }
    let bound = policy
        .bind_names(&NameBinding {
            resolved: &resolved,
            assumed,
        })
        // None: no entry names a group of names.
        .unwrap_or_else(|| policy.clone());
    let literal = load("written.asa", &written);
    let (a, b) = (
        symbolic::Evaluator::new(&bound).forward(&region()),
        symbolic::Evaluator::new(&literal).forward(&region()),
    );
    prop_assert!(
        same(&a.accepted(), &b.accepted()) && same(&a.unknown(), &b.unknown()),
        "bound {resolved:?} (assumed {assumed:?}) differs from\n{written}\nconfiguration:\n{text}"
    );
    agree_on(&bound, text, r)
}

fn agree_on(
    policy: &octaverify::model::Policy,
    text: &str,
    r: &mut Rng,
) -> Result<(), TestCaseError> {
    let outcome = symbolic::Evaluator::new(policy).forward(&region());
    // Runs of rules taken in one step decide alike, and name the rule
    // that decides each packet among those of the run.
    let by_runs = symbolic::Evaluator::new(policy)
        .by_runs()
        .forward(&region());
    let concrete = concrete::Evaluator::new(policy);
    for _ in 0..60 {
        let p = gen_packet(r);
        let expected = concrete.verdict(&p);
        for (got, how) in [(&outcome, "rule by rule"), (&by_runs, "by runs")] {
            prop_assert_eq!(
                got.verdict_of(&p),
                expected,
                "{} packet {:?}\nruleset:\n{}",
                how,
                p.describe(),
                text
            );
        }
        if expected == octaverify::eval::Verdict::Unknown {
            continue;
        }
        let steps = concrete.trace(&p).steps;
        for d in by_runs.decisions.iter().filter(|d| d.set.contains(&p)) {
            let (Some(last), Some(first)) = (d.through(), d.rule().index) else {
                continue;
            };
            let matched: Vec<_> = steps
                .iter()
                .filter(|s| s.effect == concrete::Effect::Matched && s.rule.chain == d.rule().chain)
                .map(|s| s.rule)
                .filter(|r| r.index.is_some_and(|i| (first..=last).contains(&i)))
                .collect();
            let rules = d.rules(policy);
            prop_assert!(
                !matched.is_empty() && matched.iter().all(|r| rules.contains(r)),
                "packet {:?}: rules {:?} of the run decide it, its decision names {:?}\nruleset:\n{}",
                p.describe(),
                matched,
                rules,
                text
            );
        }
    }
    Ok(())
}

/// What lint says of a rule holds: a shadowed or redundant rule can be left
/// out without changing the fate of any packet of the region in any base
/// chain (symbolically), no packet's concrete trace meets a shadowed rule,
/// and the earlier rules said to take every packet a shadowed rule matches
/// match every such packet that enters its chain.
fn lint_holds(name: &str, text: &str, r: &mut Rng) -> Result<(), TestCaseError> {
    use octaverify::lint::{Kind, lint};
    let policy = load(name, text);
    let bases: Vec<usize> = (0..policy.chains.len())
        .filter(|&c| policy.chains[c].base.is_some())
        .collect();
    let watch = std::cell::RefCell::new(symbolic::Watch::default());
    let ev = symbolic::Evaluator::watching(&policy, &watch);
    for &b in &bases {
        ev.path(&PacketSet::universe(), &[b]);
    }
    let entered = watch.into_inner().entered;
    let packets: Vec<Packet> = (0..60).map(|_| gen_packet(r)).collect();
    let concrete = concrete::Evaluator::new(&policy);
    for l in lint(&policy).lints {
        if !matches!(l.kind, Kind::Shadowed | Kind::Redundant) {
            continue;
        }
        for &b in &bases {
            let with = symbolic::Evaluator::new(&policy).path(&region(), &[b]);
            let without = symbolic::Evaluator::without(&policy, l.rule).path(&region(), &[b]);
            prop_assert!(
                same(&with.accepted(), &without.accepted())
                    && same(&with.unknown(), &without.unknown()),
                "{:?} rule {:?} changes fates in chain {}:\n{}",
                l.kind,
                l.rule,
                policy.chains[b].name,
                text
            );
        }
        if l.kind == Kind::Shadowed && l.detail.contains("take every packet") {
            let rule = policy.rule(l.rule);
            let reaching = PacketSet::union_all(&entered[&l.rule.chain]).intersect(&rule.matches);
            let covered = PacketSet::union_all(l.because.iter().map(|&b| &policy.rule(b).matches));
            prop_assert!(
                reaching.difference(&covered).is_empty(),
                "the rules {:?} said to take what reaches shadowed rule {:?} do not match it all:\n{}",
                l.because,
                l.rule,
                text
            );
        }
        if l.kind == Kind::Shadowed {
            for p in &packets {
                let t = concrete.trace(p);
                prop_assert!(
                    t.steps.iter().all(|s| s.rule != l.rule),
                    "shadowed rule {:?} applies to {:?}:\n{}",
                    l.rule,
                    p.describe(),
                    text
                );
            }
        }
    }
    Ok(())
}

/// The ruleset with a few of its rules changed as a reviewer's change
/// would: one taken out, one copied elsewhere in its table, two of a
/// table's swapped, one's verdict turned round. Rule lines are those `rule` takes;
/// a line starting with `*` begins another table, as in iptables-save.
fn edit(text: &str, rule: impl Fn(&str) -> bool, r: &mut Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for _ in 0..1 + r.below(3) {
        // The rule lines, each with the table it belongs to.
        let mut table = 0;
        let rules: Vec<(usize, usize)> = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                table += l.starts_with('*') as usize;
                rule(l).then_some((i, table))
            })
            .collect();
        if rules.is_empty() {
            break;
        }
        let (at, t) = rules[r.below(rules.len() as u64) as usize];
        let same: Vec<usize> = rules.iter().filter(|x| x.1 == t).map(|x| x.0).collect();
        let other = same[r.below(same.len() as u64) as usize];
        match r.below(4) {
            0 => {
                lines.remove(at);
            }
            1 => {
                let copy = lines[at].clone();
                lines.insert(other + 1, copy);
            }
            2 => lines.swap(at, other),
            _ => {
                let turned = [
                    ("-j ACCEPT", "-j DROP"),
                    ("-j DROP", "-j ACCEPT"),
                    (" permit ", " deny "),
                    (" deny ", " permit "),
                ]
                .iter()
                .find(|(from, _)| lines[at].contains(from))
                .map(|(from, to)| lines[at].replacen(from, to, 1));
                if let Some(t) = turned {
                    lines[at] = t;
                }
            }
        }
    }
    lines.join("\n") + "\n"
}

/// The diff of a ruleset and an edit of it against the concrete evaluator:
/// every random packet whose verdict differs between the versions lies in
/// a piece of the right direction or in the diff's unknown packets, and
/// every piece's witness changed as the piece says.
fn diff_holds(name: &str, old: &str, new: &str, r: &mut Rng) -> Result<(), TestCaseError> {
    use octaverify::eval::Verdict;
    let Ok(b) = octaverify::frontend::load(name, new.as_bytes().to_vec(), None) else {
        // An edit that leaves a chain's jumps looping, say.
        return Ok(());
    };
    let a = load(name, old);
    let Some(c) = octaverify::diff::changes(&a, &b) else {
        return Ok(());
    };
    let (ca, cb) = (concrete::Evaluator::new(&a), concrete::Evaluator::new(&b));
    let shown =
        |p: &Packet, pieces: &[octaverify::diff::Piece]| pieces.iter().any(|x| x.set.contains(p));
    let context = || format!("old:\n{old}\nnew:\n{new}");
    for (pieces, change) in [
        (&c.accepted, (Verdict::Drop, Verdict::Accept)),
        (&c.dropped, (Verdict::Accept, Verdict::Drop)),
    ] {
        for x in pieces {
            let w = &x.witness;
            prop_assert_eq!((ca.verdict(w), cb.verdict(w)), change, "{}", context());
        }
    }
    for _ in 0..60 {
        let p = gen_packet(r);
        let (before, after) = (ca.verdict(&p), cb.verdict(&p));
        let found = match (before, after) {
            _ if before == after => continue,
            (Verdict::Drop, Verdict::Accept) => c.more_accepted > 0 || shown(&p, &c.accepted),
            (Verdict::Accept, Verdict::Drop) => c.more_dropped > 0 || shown(&p, &c.dropped),
            _ => c.unknown.contains(&p),
        };
        prop_assert!(
            found,
            "{} went from {:?} to {:?}\n{}",
            p.describe(),
            before,
            after,
            context()
        );
    }
    Ok(())
}

proptest! {
    /// The fuzz target's way of choosing, from bytes: whatever the bytes,
    /// the ruleset parses and the evaluators agree on it.
    #[test]
    fn byte_driven_rulesets_agree(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut r = Rng::Bytes(bytes, 0);
        let text = gen_ruleset(&mut r, Shape::LONG);
        agree("random.rules", text, &mut r)?;
    }
}

/// The generated iptables rulesets hold runs of rules, so that the walk by
/// runs meets some in the property tests.
#[test]
fn generated_rulesets_hold_runs() {
    const SEEDS: u64 = 100;
    let holding = (1..=SEEDS)
        .filter(|&seed| {
            let mut r = Rng::Seeded(seed);
            let policy = load("random.rules", &gen_ruleset(&mut r, Shape::LONG));
            (0..policy.chains.len()).any(|c| !policy.runs(c).is_empty())
        })
        .count();
    assert!(
        holding >= 20,
        "{holding} of {SEEDS} generated rulesets hold a run"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Lint's shadowed and redundant rules, on random iptables, nft and ASA inputs.
    #[test]
    fn lint_claims_hold(seed in 1u64..u64::MAX) {
        let mut r = Rng::Seeded(seed);
        let text = gen_ruleset(&mut r, Shape::SHORT);
        lint_holds("random.rules", &text, &mut r)?;
        let text = gen_nft_ruleset(&mut r, Shape::SHORT);
        lint_holds("random.nft", &text, &mut r)?;
        let text = gen_asa_config(&mut r, false, false);
        lint_holds("random.asa", &text, &mut r)?;
    }

    /// Random iptables-save rulesets.
    #[test]
    fn symbolic_partition_agrees_with_concrete_evaluation(seed in 1u64..u64::MAX) {
        let mut r = Rng::Seeded(seed);
        let text = gen_ruleset(&mut r, Shape::LONG);
        agree("random.rules", text, &mut r)?;
    }

    /// Random ASA configurations.
    #[test]
    fn symbolic_agrees_with_concrete_on_asa_configs(seed in 1u64..u64::MAX) {
        let mut r = Rng::Seeded(seed);
        let text = gen_asa_config(&mut r, false, true);
        agree("random.asa", text, &mut r)?;
    }

    /// Random ASA configurations matching DNS names (fqdn objects), bound.
    #[test]
    fn bound_names_agree_with_their_addresses_written_out(seed in 1u64..u64::MAX) {
        let mut r = Rng::Seeded(seed);
        let text = gen_asa_config(&mut r, true, true);
        names_agree(&text, &mut r)?;
    }

    /// Random iptables-save rulesets and ASA configurations, each against
    /// an edit of it.
    #[test]
    fn diff_finds_every_packet_whose_fate_changed(seed in 1u64..u64::MAX) {
        let mut r = Rng::Seeded(seed);
        let old = gen_ruleset(&mut r, Shape::LONG);
        let new = edit(&old, |l| l.starts_with("-A "), &mut r);
        diff_holds("random.rules", &old, &new, &mut r)?;
        let old = gen_asa_config(&mut r, false, true);
        let new = edit(&old, |l| l.starts_with("access-list "), &mut r);
        diff_holds("random.asa", &old, &new, &mut r)?;
    }

    /// Random nftables rulesets.
    #[test]
    fn symbolic_agrees_with_concrete_on_nft_rulesets(seed in 1u64..u64::MAX) {
        let mut r = Rng::Seeded(seed);
        let text = gen_nft_ruleset(&mut r, Shape::LONG);
        agree("random.nft", text, &mut r)?;
    }
}
