//! Prints a generated export of KIND with about SIZE rules (set elements for
//! nft), for whole-run measurements; the same arguments always give the same
//! bytes. Kinds: kube, fail2ban, enterprise (iptables-save), nft, ios, asa.
//!
//! `cargo run --release --example synth -- kube 1000000 > kube-1m.rules`
//!
//! `synth KIND SIZE --next` prints the next version of that export (the
//! dialler's UDP accept narrowed), for `octaverify diff` measurements.
//!
//! Every export is written for the site `--dialler 192.168.1.10 --management
//! 10.0.0.30,172.16.3.40 --dns-servers 192.168.1.254,8.8.8.8`; `synth site`
//! prints those flags.

#[path = "../benches/support/synth/mod.rs"]
mod synth;

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || -> ! {
        let kinds: Vec<_> = synth::Kind::ALL.iter().map(|k| k.name()).collect();
        eprintln!(
            "usage: synth KIND SIZE [--next] | synth site   (KIND: {})",
            kinds.join(", ")
        );
        std::process::exit(2)
    };
    if args.first().map(String::as_str) == Some("site") {
        println!("{}", synth::SITE.join(" "));
        return;
    }
    let (Some(kind), Some(size)) = (
        args.first().and_then(|k| synth::Kind::from_name(k)),
        args.get(1).and_then(|n| n.parse().ok()),
    ) else {
        usage()
    };
    let text = kind.generate(size);
    let text = match args.get(2).map(String::as_str) {
        None => text,
        Some("--next") => kind.next_version(&text),
        Some(_) => usage(),
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .expect("stdout is writable");
}
