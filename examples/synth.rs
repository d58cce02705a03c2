//! Prints a synthetic iptables-save export of N rules (default 100000), with
//! `--nft` an nftables ruleset with an N-element interval set, with `--ios`
//! an IOS configuration with an N-entry list, for whole-run measurements:
//! `cargo run --release --example synth -- 100000 > big.rules`,
//! `cargo run --release --example synth -- --nft 100000 > big.nft`,
//! `cargo run --release --example synth -- --ios 50000 > big.ios`.

#[path = "../benches/support/synth.rs"]
mod synth;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let nft = args.iter().any(|a| a == "--nft");
    let ios = args.iter().any(|a| a == "--ios");
    let n = args.iter().find_map(|s| s.parse().ok()).unwrap_or(100_000);
    if nft {
        print!("{}", synth::nft_ruleset(n));
    } else if ios {
        print!("{}", synth::ios_config(n));
    } else {
        print!("{}", synth::ruleset(n));
    }
}
