//! The `trellis` binary: parse the command line, run, exit with a code
//! scripts can rely on.

use std::process::ExitCode;

use clap::Parser;
use trellis_cli::{Cli, failure::exit, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("trellis: cannot start: {err}");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("trellis: {failure}");
            failure.exit_code()
        }
    }
}
