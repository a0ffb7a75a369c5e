//! The process allocator: mimalloc rather than the system's malloc.
//!
//! The import checks rows on worker threads and frees them on the database
//! side; glibc's malloc spends a third of that time on cross-thread frees and
//! consolidation. With mimalloc, importing a million customers and vehicles
//! takes about a quarter less time (benches/scale.sh).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
