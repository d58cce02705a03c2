//! The capture reader on arbitrary bytes: a summary or an error at an
//! offset inside the input, never a panic or a hang.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut packets = 0u64;
    match octaverify::capture::read::read(data, |_| packets += 1) {
        Ok(summary) => assert_eq!(summary.packets, packets),
        Err(e) => assert!(e.offset <= data.len() as u64, "{e}"),
    }
});
