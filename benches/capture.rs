//! Reading a capture into flows (`octaverify pcap`'s work before the report):
//! generated pcap files of 10k and 100k frames over 1k flows, from memory.
//! Whole-process figures: `octaverify pcap` under `/usr/bin/time -v` on a
//! file as large as wanted (README, Performance).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use octaverify::capture::flows::Flows;
use octaverify::capture::read::read;
use std::hint::black_box;

#[allow(dead_code, reason = "the tests use more of it")]
#[path = "../tests/support/capture.rs"]
mod capture;

/// `frames` frames of 1k flows: TCP to 443 and UDP to 53 in turn, each with
/// a 900-byte payload.
fn dump(frames: usize) -> Vec<u8> {
    let body = vec![b'x'; 900];
    let list: Vec<(f64, Vec<u8>, usize)> = (0..frames)
        .map(|i| {
            let port = 10_000 + (i % 1000) as u16;
            let carry = if i % 2 == 0 {
                capture::Carry::Udp {
                    sport: port,
                    dport: 53,
                    payload: body.clone(),
                }
            } else {
                capture::Carry::Tcp {
                    sport: port,
                    dport: 443,
                    seq: i as u32,
                    syn: i < 1000,
                    ack: i >= 1000,
                    rst: false,
                }
            };
            let f = capture::v4(
                Some(capture::ethernet(None)),
                [192, 168, 1, 10],
                [1, 1, 1, 1],
                carry,
            );
            let n = f.len();
            (i as f64 / 1000.0, f, n)
        })
        .collect();
    capture::pcap(capture::ETHERNET, &list)
}

fn flows(c: &mut Criterion) {
    let mut g = c.benchmark_group("capture");
    for frames in [10_000, 100_000] {
        let bytes = dump(frames);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::new("flows", frames), &bytes, |b, bytes| {
            b.iter(|| {
                let mut flows = Flows::default();
                read(&bytes[..], |p| flows.add(&p)).expect("a capture");
                black_box(flows.of(&["192.168.1.10".parse().unwrap()]))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, flows);
criterion_main!(benches);
