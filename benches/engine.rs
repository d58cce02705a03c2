//! The benchmark suite: for every generated kind of export (see
//! `support/synth`) and size, the time to parse (where the front-end has a
//! separate parser), load (parse and lower), check, lint, diff against a next
//! version, and trace one packet. Whole-process figures come from
//! `benches/whole-run`, not from here.
//!
//! `cargo bench --bench engine -- 'check/kube'` runs one part; the 1M-rule
//! sizes take minutes in all.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use octaverify::model::Policy;
use octaverify::requirements::RequirementSet;
use octaverify::site::{Overrides, Site};
use octaverify::space::{Dim, Packet, State, dim};
use std::hint::black_box;
use synth::Kind;

#[path = "support/synth/mod.rs"]
mod synth;

fn site() -> Site {
    let o = Overrides {
        dialler: Some(vec!["192.168.1.10".parse().unwrap()]),
        management: Some(vec![
            "10.0.0.30/32".parse().unwrap(),
            "172.16.3.40/32".parse().unwrap(),
        ]),
        dns_servers: Some(vec![
            "192.168.1.254".parse().unwrap(),
            "8.8.8.8".parse().unwrap(),
        ]),
        config: Some("/dev/null".into()),
        ..Overrides::default()
    };
    Site::load(std::path::Path::new("bench.rules"), &o).unwrap()
}

fn path(kind: Kind) -> String {
    format!("bench.{}", kind.extension())
}

fn load(kind: Kind, text: &str) -> Policy {
    octaverify::frontend::load(&path(kind), text.as_bytes().to_vec(), None).unwrap()
}

/// Each kind at each of its sizes, with its text.
fn inputs(max: usize) -> impl Iterator<Item = (Kind, usize, String)> {
    Kind::ALL.into_iter().flat_map(move |k| {
        k.bench_sizes()
            .iter()
            .filter(move |&&n| n <= max)
            .map(move |&n| (k, n, k.generate(n)))
    })
}

/// Text to syntax tree, for the front-ends whose parser stands alone.
fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for (kind, n, text) in inputs(usize::MAX) {
        if kind.extension() != "rules" {
            continue;
        }
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(BenchmarkId::new(kind.name(), n), &text, |b, t| {
            b.iter(|| {
                octaverify::frontend::iptables::parse::for_each_line(
                    "bench.rules",
                    black_box(t),
                    |_| Ok(true),
                )
                .unwrap()
            })
        });
    }
    g.finish();
}

/// Bytes to policy model: parsing, replaying, lowering what is lowered eagerly.
fn lower(c: &mut Criterion) {
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    for (kind, n, text) in inputs(usize::MAX) {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(BenchmarkId::new(kind.name(), n), &text, |b, t| {
            b.iter(|| load(kind, black_box(t)))
        });
    }
    g.finish();
}

fn check(c: &mut Criterion) {
    let mut g = c.benchmark_group("check");
    g.sample_size(10);
    let (site, reqs) = (site(), RequirementSet::builtin());
    for (kind, n, text) in inputs(usize::MAX) {
        // A fresh policy each time: chain indexes are built on first use.
        g.bench_with_input(BenchmarkId::new(kind.name(), n), &text, |b, t| {
            b.iter_batched(
                || load(kind, t),
                |p| octaverify::check::check(&p, &site, &reqs).unwrap(),
                criterion::BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn lint(c: &mut Criterion) {
    let mut g = c.benchmark_group("lint");
    g.sample_size(10);
    for (kind, n, text) in inputs(10_000) {
        let p = load(kind, &text);
        g.bench_with_input(BenchmarkId::new(kind.name(), n), &p, |b, p| {
            b.iter(|| octaverify::lint::lint(black_box(p)))
        });
    }
    g.finish();
}

fn diff(c: &mut Criterion) {
    let mut g = c.benchmark_group("diff");
    g.sample_size(10);
    let (site, reqs) = (site(), RequirementSet::builtin());
    for (kind, n, text) in inputs(100_000) {
        let next = kind.next_version(&text);
        let (old, new) = (load(kind, &text), load(kind, &next));
        g.bench_with_input(
            BenchmarkId::new(kind.name(), n),
            &(old, new),
            |b, (o, n)| b.iter(|| octaverify::diff::report(o, n, &site, &reqs).unwrap()),
        );
    }
    g.finish();
}

/// One packet through the whole forward path: the dialler's DNS query.
fn trace(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace");
    let mut pk = Packet::default();
    pk.set(Dim::Family, dim::Family::Ipv4 as u128);
    pk.set(Dim::Src, 0xc0a8_010a);
    pk.set(Dim::Dst, 0x0808_0808);
    pk.set(Dim::Proto, dim::proto::UDP as u128);
    pk.set(Dim::Sport, 40000);
    pk.set(Dim::Dport, 53);
    pk.set(Dim::State, State::NEW);
    pk.set(Dim::In, dim::iface::encode("eth1"));
    pk.set(Dim::Out, dim::iface::encode("eth0"));
    for (kind, n, text) in inputs(usize::MAX) {
        let p = load(kind, &text);
        g.bench_with_input(BenchmarkId::new(kind.name(), n), &p, |b, p| {
            b.iter(|| octaverify::eval::concrete::Evaluator::new(p).trace(black_box(&pk)))
        });
    }
    g.finish();
}

criterion_group!(benches, parse, lower, check, lint, diff, trace);
criterion_main!(benches);
