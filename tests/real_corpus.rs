//! Real exports written by others (`../shared/corpus-real`): how many load
//! and are checked, and that the ones known to be broken are refused. Skips,
//! with a message, where the folder is absent (a fresh clone has no `../shared`).

use octaverify::model::Format;
use std::path::{Path, PathBuf};

/// Shares of the valid files of each folder that must load and be checked;
/// raise them as support grows.
const IPTABLES_FLOOR: f64 = 0.80;
/// The nftables files refused today are refused by nft 1.0.6 too (undefined
/// variables, includes of files not in the corpus, template placeholders).
const NFTABLES_FLOOR: f64 = 0.90;
/// The IOS files refused today are not IOS either (an extended list written
/// as a standard one, an EOS port name, a stray word after an object-group).
const CISCO_IOS_FLOOR: f64 = 0.90;
/// The ASA files refused today: a mask with holes (ASA refuses them) and a
/// Firewall Builder line that is not ASA syntax.
const CISCO_ASA_FLOOR: f64 = 0.90;

/// Lint runs on the files with at most this many rules (every file, in a
/// release build, lints in 21 s in all; the largest alone take 10 s there).
const LINT_MAX_RULES: usize = 1_500;

/// Every file below `dir`, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The seed's site, with the dialler's IPv6 address too.
fn site() -> octaverify::site::Site {
    let o = octaverify::site::Overrides {
        dialler: Some(vec!["192.168.1.10".parse().unwrap()]),
        dialler6: Some(vec!["2001:db8:1::10".parse().unwrap()]),
        management: Some(vec!["10.0.0.30/32".parse().unwrap()]),
        config: Some("/dev/null".into()),
        ..Default::default()
    };
    octaverify::site::Site::load(Path::new("real.cfg"), &o).unwrap()
}

/// Loads and checks every file of `corpus-real/<folder>` (as `format`, or
/// detected), refusing the INVALID-* ones, and holds the load rate to `floor`.
fn real_corpus(folder: &str, format: Option<Format>, floor: f64) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus-real")
        .join(folder);
    if !dir.is_dir() {
        eprintln!("skipping: {} is not present", dir.display());
        return;
    }
    let (mut valid, mut loaded) = (0, 0);
    let mut failures = Vec::new();
    for path in files_under(&dir) {
        let name = path.strip_prefix(&dir).unwrap().display().to_string();
        let bytes = std::fs::read(&path).unwrap();
        let shown = path.display().to_string();
        let result = std::panic::catch_unwind(|| {
            octaverify::frontend::load(&shown, bytes.clone(), format).map(|policy| {
                // The whole check runs too: every real ruleset gets a verdict.
                let reqs = octaverify::requirements::RequirementSet::builtin();
                octaverify::check::check(&policy, &site(), &reqs).expect("a verdict");
                // And lint, where a debug build does it in reasonable time.
                let rules: usize = policy.chains.iter().map(|c| c.rules.len()).sum();
                if rules <= LINT_MAX_RULES {
                    let linted = octaverify::lint::lint(&policy);
                    octaverify::lint::report(&policy, &linted);
                }
            })
        });
        let result = result.unwrap_or_else(|_| panic!("{name}: octaverify panicked"));
        if name.contains("INVALID-") {
            assert!(result.is_err(), "{name} is broken and must be refused");
            continue;
        }
        valid += 1;
        match result {
            Ok(()) => loaded += 1,
            Err(e) => {
                let e = e.to_string();
                let file = path.file_name().unwrap().to_string_lossy();
                assert!(
                    e.contains(&format!("{file}:")),
                    "{name}: the error is not located: {e}"
                );
                failures.push(format!("{name}: {}", e.lines().next().unwrap_or("")));
            }
        }
    }
    let rate = loaded as f64 / valid as f64;
    eprintln!(
        "{folder} real corpus: {loaded}/{valid} load and are checked ({:.1}%)",
        rate * 100.0
    );
    for f in &failures {
        eprintln!("  refused: {f}");
    }
    assert!(rate >= floor, "load rate {rate:.3} fell below {floor}");
}

#[test]
fn real_iptables_exports_load() {
    real_corpus("iptables", None, IPTABLES_FLOOR);
}

#[test]
fn real_nftables_rulesets_load() {
    real_corpus("nftables", None, NFTABLES_FLOOR);
}

#[test]
fn real_cisco_ios_configs_load() {
    real_corpus("cisco-ios", Some(Format::CiscoIos), CISCO_IOS_FLOOR);
}

#[test]
fn real_cisco_asa_configs_load() {
    real_corpus("cisco-asa", Some(Format::CiscoAsa), CISCO_ASA_FLOOR);
}
