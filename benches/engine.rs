//! Benchmarks: parsing throughput, and whole checks of large synthetic exports.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use octaverify::requirements::RequirementSet;
use octaverify::site::{Overrides, Site};
use std::hint::black_box;

#[path = "support/synth.rs"]
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

/// Text to syntax tree: the parser proper.
fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for n in [10_000usize, 100_000] {
        let text = synth::ruleset(n);
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, t| {
            b.iter(|| {
                octaverify::frontend::iptables::parse::parse("bench.rules", black_box(t)).unwrap()
            })
        });
    }
    g.finish();
}

/// Bytes to policy model: parsing, replaying the commands, lowering every rule.
fn load(c: &mut Criterion) {
    let mut g = c.benchmark_group("load");
    for n in [10_000usize, 100_000] {
        let text = synth::ruleset(n);
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, t| {
            b.iter(|| {
                octaverify::frontend::load("bench.rules", black_box(t.clone().into_bytes()), None)
                    .unwrap()
            })
        });
    }
    g.finish();
}

fn check(c: &mut Criterion) {
    let mut g = c.benchmark_group("check");
    g.sample_size(10);
    let reqs = RequirementSet::builtin();
    let site = site();
    for n in [10_000usize, 100_000] {
        let policy =
            octaverify::frontend::load("bench.rules", synth::ruleset(n).into_bytes(), None)
                .unwrap();
        g.bench_with_input(BenchmarkId::from_parameter(n), &policy, |b, p| {
            b.iter(|| octaverify::check::check(black_box(p), &site, &reqs).unwrap())
        });
    }
    g.finish();
}

/// An nftables ruleset with a large named interval set and verdict maps:
/// loading (every element parsed) and a whole check.
fn nft(c: &mut Criterion) {
    let mut g = c.benchmark_group("nft");
    g.sample_size(10);
    let reqs = RequirementSet::builtin();
    let site = site();
    let n = 100_000;
    let text = synth::nft_ruleset(n);
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_with_input(BenchmarkId::new("load", n), &text, |b, t| {
        b.iter(|| {
            octaverify::frontend::load("bench.nft", black_box(t.clone().into_bytes()), None)
                .unwrap()
        })
    });
    let policy = octaverify::frontend::load("bench.nft", text.into_bytes(), None).unwrap();
    g.bench_with_input(BenchmarkId::new("check", n), &policy, |b, p| {
        b.iter(|| octaverify::check::check(black_box(p), &site, &reqs).unwrap())
    });
    g.finish();
}

/// A Cisco IOS configuration with a 50k-entry list of object-groups.
fn ios(c: &mut Criterion) {
    let mut g = c.benchmark_group("ios");
    g.sample_size(10);
    let reqs = RequirementSet::builtin();
    let site = site();
    let n = 50_000;
    let text = synth::ios_config(n);
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_with_input(BenchmarkId::new("load", n), &text, |b, t| {
        b.iter(|| {
            octaverify::frontend::load("bench.ios", black_box(t.clone().into_bytes()), None)
                .unwrap()
        })
    });
    let policy = octaverify::frontend::load("bench.ios", text.into_bytes(), None).unwrap();
    g.bench_with_input(BenchmarkId::new("check", n), &policy, |b, p| {
        b.iter(|| octaverify::check::check(black_box(p), &site, &reqs).unwrap())
    });
    g.finish();
}

criterion_group!(benches, parse, load, check, nft, ios);
criterion_main!(benches);
