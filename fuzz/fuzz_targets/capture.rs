//! The capture reader and the flow analysis on arbitrary bytes: a summary
//! or an error at an offset inside the input, never a panic or a hang; every
//! flow of the busiest address classified.
#![no_main]

use octaverify::capture::flows::Flows;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut packets = 0u64;
    let mut flows = Flows::default();
    let read = octaverify::capture::read::read(data, |p| {
        packets += 1;
        flows.add(&p);
    });
    match read {
        Ok(summary) => assert_eq!(summary.packets, packets),
        Err(e) => assert!(e.offset <= data.len() as u64, "{e}"),
    }
    if let Some(d) = flows.busiest() {
        let of = flows.of(&[d]);
        assert!(of.iter().all(|f| f.local.0 == d || f.remote.0 == d));
    }
});
