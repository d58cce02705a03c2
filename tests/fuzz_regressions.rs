//! Every input a fuzz target ever crashed on (tests/data/fuzz/TARGET/),
//! loaded as that target loads it: an error or a policy, never a panic.
//! `fuzz/run` puts new crashes in fuzz/artifacts; each is copied here,
//! named for what it found, once fixed.

use octaverify::model::Format;

#[test]
fn crashes_found_by_fuzzing_stay_fixed() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    let mut seen = 0;
    for (target, format) in [
        ("iptables", Format::Iptables),
        ("nft", Format::Nft),
        ("nft_json", Format::NftJson),
        ("ios", Format::CiscoIos),
        ("asa", Format::CiscoAsa),
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.expect("a readable folder").path();
            let bytes = std::fs::read(&path).expect("a readable file");
            if let Ok(policy) = octaverify::frontend::load("fuzz", bytes, Some(format)) {
                let _ = octaverify::lint::lint(&policy);
            }
            seen += 1;
        }
    }
    assert!(seen > 0, "no inputs under {}", root.display());
}
