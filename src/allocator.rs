//! The process's allocator: mimalloc instead of the C library's.
//!
//! A call allocates and frees many small buffers (protobuf and JSON bodies,
//! statement text and arguments, rows) across the runtime's threads. With
//! glibc's allocator, `malloc`, `free` and its chunk coalescing took about a
//! fifth of kessai's CPU during Authorize on PostgreSQL (BENCHMARKS.md, "The
//! allocator"). Declared in the library so that `kessai`, `kessai-bench
//! serve` and the tests all run on the same one.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
