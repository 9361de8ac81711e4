#[tokio::main]
async fn main() -> std::process::ExitCode {
    proxbox::server::cli::main().await
}
