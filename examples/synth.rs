//! Prints a synthetic iptables-save export of N rules (default 100000), for
//! whole-run measurements: `cargo run --release --example synth -- 100000 > big.rules`.

#[path = "../benches/support/synth.rs"]
mod synth;

fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    print!("{}", synth::ruleset(n));
}
