//! The performance budgets of `architecture.md`, in the units the benchmarks measure.

pub const COLD_START_MS: f64 = 15.0;
pub const IDLE_RSS_KB: u64 = 10 * 1024;
pub const TOTAL_RSS_KB: u64 = 250 * 1024;
pub const BINARY_BYTES: u64 = 15 * 1024 * 1024;
/// Place-order throughput in the drop, as a share of DynamoDB Local's own for the same transaction.
pub const DROP_SHARE_OF_CEILING: f64 = 0.80;
/// Orders per second while the drop sells out, as a multiple of DynamoDB Local's best single-order
/// transaction rate on one item (the sweep's best level), measured in the same run.
pub const DROP_TIMES_BEST_SINGLE_ORDER: f64 = 2.0;
pub const DROP_P99_MS: f64 = 150.0;
pub const STOREFRONT_GZIP_BYTES: u64 = 300 * 1024;
