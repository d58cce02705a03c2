#![allow(dead_code, reason = "each target uses part of it")]

//! What every front-end target does with its bytes: load them as an export
//! of one format; an input error must render (file:line:col, the line, a
//! caret); a policy must check against the built-in requirements for a
//! fixed site, and lint, without panicking.

use octaverify::model::Format;
use octaverify::requirements::RequirementSet;
use octaverify::site::{Overrides, Site};

pub fn site() -> Site {
    let o = Overrides {
        dialler: Some(vec!["10.0.0.1".parse().unwrap()]),
        management: Some(vec!["10.0.0.6/32".parse().unwrap()]),
        dns_servers: Some(vec!["10.0.0.4".parse().unwrap()]),
        config: Some("/dev/null".into()),
        ..Overrides::default()
    };
    Site::load(std::path::Path::new("fuzz"), &o).unwrap()
}

pub fn load_and_check(path: &str, data: &[u8], format: Format) {
    match octaverify::frontend::load(path, data.to_vec(), Some(format)) {
        Err(e) => {
            let _ = e.to_string();
        }
        Ok(policy) => {
            let _ = octaverify::check::check(&policy, &site(), &RequirementSet::builtin());
            let _ = octaverify::lint::lint(&policy);
        }
    }
}
