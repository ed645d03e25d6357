//! The `yichuang` binary: see `cli` for the commands.

fn main() -> std::process::ExitCode {
    yichuang::cli::run()
}
