fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts")
        .block_on(proxbox::server::cli::main())
}

/// glibc gives each thread that allocates a heap of its own ("arena", up to eight per core)
/// and keeps what is freed there for that arena's next use: a sync's passing reads, spread
/// over the runtime's workers and SQLite's connection threads, then stay resident in several
/// arenas at once. Two arenas keep the peak near what is live (BENCHMARKS.md "Live"). Called
/// before any thread starts, as glibc requires.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
