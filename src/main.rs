//! The `octaverify` binary: runs the command line and maps the outcome to an
//! exit code (0 compliant, 1 not compliant, 2 usage or input error).

use octaverify::cli::{Terminal, run};
use std::io::{IsTerminal, Write};

/// The engine allocates and frees many small cubes and sets (see Cargo.toml).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main`: one arena, not four per core.
/// The threads of a parse allocate what the main thread keeps or frees, and
/// with an arena each, the blocks one freed stayed unused by the others
/// (kube 1M: 642 MB -> 557 MB peak, as fast; the thread caches take the
/// contention).
#[cfg(not(target_env = "msvc"))]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 10] = b"narenas:1\0";

/// The stack of every thread that walks chains: a walk goes a level deeper
/// per nested jump, up to `graph::MAX_DEPTH` levels of a few kilobytes
/// each (only the pages used are ever touched).
const STACK: usize = 256 << 20;

fn main() {
    rayon::ThreadPoolBuilder::new()
        .stack_size(STACK)
        .build_global()
        .expect("no pool is built before this one");
    let code = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(run_command_line)
        .expect("a thread to run on")
        .join()
        .unwrap_or(101);
    std::process::exit(code);
}

fn run_command_line() -> i32 {
    let term = Terminal {
        stdout_tty: std::io::stdout().is_terminal(),
        stderr_tty: std::io::stderr().is_terminal(),
        no_color: std::env::var_os("NO_COLOR").is_some(),
        color: None,
    };
    match run(std::env::args().collect(), term) {
        Ok(r) => {
            eprint!("{}", r.stderr);
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error.
            let _ = out.write_all(r.stdout.as_bytes());
            let _ = out.flush();
            r.code
        }
        Err(e) => {
            eprintln!("{}", e.render(term.color_stderr()));
            2
        }
    }
}
