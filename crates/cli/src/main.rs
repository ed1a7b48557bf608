//! The `trellis` binary: parse the command line, run, exit with a code
//! scripts can rely on.

use std::process::ExitCode;

use clap::Parser;
use trellis_cli::{Cli, failure::exit, run};

fn main() -> ExitCode {
    quiet_on_closed_pipe();
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

/// `trellis … | head` closes the pipe before everything is printed; a
/// Unix tool then stops without a word, so this one does too instead of
/// panicking with a backtrace. Any other panic is reported as usual.
fn quiet_on_closed_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        report(info);
    }));
}
