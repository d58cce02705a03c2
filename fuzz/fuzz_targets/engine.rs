//! The engine on random rulesets (iptables, nft, ASA) built from the bytes
//! by the generator the property tests use: the symbolic partition must give
//! each packet the verdict that evaluating that packet alone gives, and
//! check, trace and lint must finish without panicking.
#![no_main]

#[path = "common.rs"]
mod common;
#[allow(dead_code, reason = "the tests use more of it")]
#[path = "../../tests/support/random.rs"]
mod random;

use octaverify::eval::{concrete, symbolic};
use random::{Rng, Shape, gen_asa_config, gen_nft_ruleset, gen_packet, gen_ruleset, region};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut r = Rng::Bytes(data.to_vec(), 0);
    let (name, text) = match r.below(3) {
        0 => ("fuzz.rules", gen_ruleset(&mut r, Shape::LONG)),
        1 => ("fuzz.nft", gen_nft_ruleset(&mut r, Shape::LONG)),
        _ => ("fuzz.asa", gen_asa_config(&mut r, false, true)),
    };
    let policy = octaverify::frontend::load(name, text.clone().into_bytes(), None)
        .unwrap_or_else(|e| panic!("a generated ruleset does not load: {e}\n{text}"));
    let outcome = symbolic::Evaluator::new(&policy).forward(&region());
    let one = concrete::Evaluator::new(&policy);
    for _ in 0..16 {
        let p = gen_packet(&mut r);
        assert_eq!(
            outcome.verdict_of(&p),
            one.verdict(&p),
            "packet {}\n{text}",
            p.describe()
        );
        let _ = one.trace(&p);
    }
    let reqs = octaverify::requirements::RequirementSet::builtin();
    let _ = octaverify::check::check(&policy, &common::site(), &reqs);
    let _ = octaverify::lint::lint(&policy);
});
