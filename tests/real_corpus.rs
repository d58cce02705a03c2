//! Real exports written by others (`../shared/corpus-real`): how many load,
//! and that the ones known to be broken are refused. Skips, with a message,
//! where the folder is absent (a fresh clone has no `../shared`).

use std::path::Path;

/// Share of the valid iptables files that must load; raise it as support grows.
const IPTABLES_FLOOR: f64 = 0.80;

/// Share of the valid nftables files (text and `nft -j` JSON) that must load
/// and be checked.
/// The ones refused today are refused by nft 1.0.6 too (undefined variables,
/// includes of files not in the corpus, template placeholders).
const NFTABLES_FLOOR: f64 = 0.90;

/// Every file below `dir`, sorted.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
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
    octaverify::site::Site::load(Path::new("real.nft"), &o).unwrap()
}

#[test]
fn real_nftables_rulesets_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus-real/nftables");
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
            octaverify::frontend::load(&shown, bytes.clone(), None).map(|policy| {
                // The whole check runs too: every real ruleset gets a verdict.
                let reqs = octaverify::requirements::RequirementSet::builtin();
                octaverify::check::check(&policy, &site(), &reqs).expect("a verdict");
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
                assert!(
                    e.contains(".nft:")
                        || e.contains(".conf:")
                        || e.contains(".rules:")
                        || e.contains(".json:"),
                    "{name}: the error is not located: {e}"
                );
                failures.push(format!("{name}: {}", e.lines().next().unwrap_or("")));
            }
        }
    }
    let rate = loaded as f64 / valid as f64;
    eprintln!(
        "nftables real corpus: {loaded}/{valid} load ({:.1}%)",
        rate * 100.0
    );
    for f in &failures {
        eprintln!("  refused: {f}");
    }
    assert!(
        rate >= NFTABLES_FLOOR,
        "load rate {rate:.3} fell below {NFTABLES_FLOOR}"
    );
}

#[test]
fn real_iptables_exports_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus-real/iptables");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipping: {} is not present", dir.display());
        return;
    };
    let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    let (mut valid, mut loaded) = (0, 0);
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(path).unwrap();
        let result = std::panic::catch_unwind(|| {
            octaverify::frontend::load(&name, bytes.clone(), None).map(|_| ())
        });
        let result = result.unwrap_or_else(|_| panic!("{name}: the front-end panicked"));
        if name.starts_with("INVALID-") {
            assert!(result.is_err(), "{name} is broken and must be refused");
            continue;
        }
        valid += 1;
        match result {
            Ok(()) => loaded += 1,
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    let rate = loaded as f64 / valid as f64;
    eprintln!(
        "iptables real corpus: {loaded}/{valid} load ({:.1}%)",
        rate * 100.0
    );
    for f in &failures {
        eprintln!("  refused: {f}");
    }
    assert!(
        rate >= IPTABLES_FLOOR,
        "load rate {rate:.3} fell below {IPTABLES_FLOOR}"
    );
}
