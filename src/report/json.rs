//! The JSON contract (SPEC §6), pretty-printed.

use super::Report;

pub fn render(r: &Report) -> String {
    serde_json::to_string_pretty(r).expect("reports serialise") + "\n"
}
