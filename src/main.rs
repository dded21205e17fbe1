use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let cli = callsync::cli::Cli::parse();
    if let Err(e) = callsync::cli::run(cli) {
        eprintln!("callsync: {e}");
        std::process::exit(1);
    }
}
