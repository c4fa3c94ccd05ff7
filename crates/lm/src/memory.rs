//! Memory held by the process, as a small PC sees it.
//!
//! glibc gives each thread that allocates its own malloc arena (up to 8 per core) and keeps
//! freed memory in each. After an initial sync the freed `_changes` pages stayed as RSS in
//! several arenas (~20 MiB at 500 000 docs); two arenas keep the module within its RSS target
//! at no measurable cost in sync speed (docs/BENCHMARKS.md, "Initial sync").

/// Limits glibc's malloc arenas to two. Call once at start, before other threads exist.
/// Other C libraries and systems have no such knob: nothing happens there.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets one allocator parameter; it is called before threads are spawned,
    // and an unknown or refused setting only returns 0.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
