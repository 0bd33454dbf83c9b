//! What other crates use of the local stack: the list of functions (the manifest checks, the
//! benchmarks) and the launcher of a whole stack (the end-to-end tests, the benchmarks).

pub mod functions;
pub mod stack;
