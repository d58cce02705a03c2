//! The asa front-end on arbitrary bytes (see `common`).
#![no_main]

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::load_and_check("fuzz.asa", data, octaverify::model::Format::CiscoAsa);
});
