//! The `octaverify` binary: runs the command line and maps the outcome to an
//! exit code (0 compliant, 1 not compliant, 2 usage or input error).

use std::io::{IsTerminal, Write};

fn main() {
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let code = match octaverify::cli::run(std::env::args().collect(), color) {
        Ok(r) => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error.
            let _ = out.write_all(r.stdout.as_bytes());
            let _ = out.flush();
            r.code
        }
        Err(e) => {
            let err_color =
                std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            eprintln!("{}", e.render(err_color));
            2
        }
    };
    std::process::exit(code);
}
