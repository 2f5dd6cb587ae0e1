//! The `geodns` command: parses the command line and hands over to `geodns::cli`.
fn main() -> std::process::ExitCode {
    geodns::cli::main()
}
