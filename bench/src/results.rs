//! Every figure of a run, typed: each measurement returns its own struct, the run serialises them
//! once to `latest.json`, and the report renders `latest.md` from the same structs (`bench --report`
//! reads them back). The JSON field names are those of the results written before these types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Answers counted by HTTP status ("no answer" for none).
pub type Statuses = BTreeMap<String, u64>;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Results {
    pub date: String,
    pub cores: usize,
    pub cold_start: ColdStart,
    pub ceiling: Ceiling,
    /// Absent from results written before this measurement existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceiling_sweep: Option<CeilingSweep>,
    pub drop: Drop,
    /// Absent from results written before this measurement existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued: Option<QueuedDrop>,
    /// Absent from results written before this measurement existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkins: Option<Checkins>,
    pub sweep: Sweep,
    /// Absent from results written before this measurement existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guessing: Option<Guessing>,
    /// Absent when the storefront was not built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storefront: Option<Storefront>,
    /// Absent from results written before this measurement existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<crate::images::ImageSizes>,
}

/// Milliseconds at the usual quantiles.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ColdStart {
    pub starts: usize,
    pub budgets: ColdStartBudgets,
    pub functions: Vec<Function>,
    pub total_idle_rss_kb: u64,
    pub total_rss_after1000_requests_kb: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ColdStartBudgets {
    pub cold_start_median_ms: f64,
    pub idle_rss_kb: u64,
    pub total_idle_rss_kb: u64,
    pub binary_bytes: u64,
}

/// One function's start, memory and size.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Function {
    pub function: String,
    pub cold_start_median_ms: f64,
    pub cold_start_max_ms: f64,
    pub idle_rss_kb: u64,
    pub rss_after1000_requests_kb: u64,
    pub rss_file_kb: u64,
    pub rss_anon_kb: u64,
    pub binary_bytes: u64,
}

/// DynamoDB Local's own rate for place-order's transaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ceiling {
    pub transactions: usize,
    pub held: u64,
    pub refused: u64,
    pub failed: u64,
    pub seconds: f64,
    pub transactions_per_second: f64,
    pub latency: Latency,
}

/// DynamoDB Local's single-order transaction on one item at each concurrency: the best level is
/// the one-order ceiling, measured where it is highest rather than inside the collapse of 200 in
/// flight.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CeilingSweep {
    /// How long each level kept starting transactions (the ones in flight then finish).
    pub seconds_per_level: f64,
    pub levels: Vec<CeilingLevel>,
}

impl CeilingSweep {
    /// The level with the most held orders per second.
    pub fn best(&self) -> Option<&CeilingLevel> {
        self.levels
            .iter()
            .max_by(|a, b| a.orders_per_second.total_cmp(&b.orders_per_second))
    }
}

/// One concurrency of the sweep, on a listing with far more tickets than it can sell, so that
/// every transaction is a hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CeilingLevel {
    pub in_flight: usize,
    pub held: u64,
    pub failed: u64,
    pub seconds: f64,
    pub orders_per_second: f64,
    pub latency: Latency,
}

/// The ticket drop through NGINX, and the payments after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Drop {
    pub buyers: usize,
    pub tickets: usize,
    pub in_flight: usize,
    pub orders_accepted: usize,
    pub sold_minus_quantity: i64,
    /// sold − min(B, Q): with fewer buyers than tickets, every buyer wins.
    pub sold_minus_expected: i64,
    pub held_in_store_minus_sold: i64,
    pub server_errors: u64,
    pub statuses: Statuses,
    pub seconds: f64,
    pub requests_per_second: f64,
    /// From the first request to the last accepted order's answer. Absent from results written
    /// before this measurement existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sell_out_seconds: Option<f64>,
    pub latency: Latency,
    /// CPU time each process of the stack (and the bench) used while buyers raced, most first:
    /// on a machine of `cores` cores, what one order costs the whole stack. Absent from results
    /// written before this measurement existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpu: Vec<crate::cpu::ProcessCpu>,
    pub payments: Payments,
}

impl Drop {
    /// Orders accepted per second while the listing sold out (the group-commit rate).
    pub fn orders_per_second_selling_out(&self) -> Option<f64> {
        self.sell_out_seconds
            .filter(|seconds| *seconds > 0.0)
            .map(|seconds| self.orders_accepted as f64 / seconds)
    }

    /// The invariants every run must keep: sold = min(B, Q), the store agrees, and no 5xx.
    pub fn invariants_hold(&self) -> bool {
        invariants_hold(
            self.sold_minus_expected,
            self.held_in_store_minus_sold,
            self.server_errors,
        )
    }
}

/// The queued drop through NGINX: buyers join a drop's queue before and at its on-sale time, read
/// their entry as the storefront does, order once admitted; then a share of the orders are paid.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueuedDrop {
    pub buyers: usize,
    pub tickets: usize,
    pub in_flight: usize,
    /// Seconds from the listing to its `onSaleAt`: the time the pre-sale joins have.
    pub on_sale_after_seconds: u64,
    /// Buyers whose entry's `joinedAt` is before `onSaleAt`, as answered.
    pub pre_sale_buyers: usize,
    /// Buyers whose entry's `joinedAt` is at or after `onSaleAt`.
    pub post_sale_buyers: usize,
    /// Buyers whose join got no entry (no answer, or an error).
    pub not_joined: usize,
    /// Buyers the bench intended to join before `onSaleAt` whose join was answered after it.
    pub pre_sale_joins_answered_late: usize,
    pub orders_accepted: usize,
    pub sold_minus_quantity: i64,
    /// sold − min(B, Q): with fewer buyers than tickets, every buyer wins.
    pub sold_minus_expected: i64,
    pub held_in_store_minus_sold: i64,
    /// No answer or a 5xx, over joins, reads and orders.
    pub server_errors: u64,
    pub joins: Requests,
    pub reads: Requests,
    pub orders: Requests,
    /// Where each buyer's entry ended, as the bench last saw it ("waiting" for those still in line
    /// when the drop sold out).
    pub final_states: Statuses,
    /// From `onSaleAt` to the answer of the last accepted order.
    pub sold_out_after_on_sale_seconds: Option<f64>,
    /// From the first order sent to the answer of the last accepted one.
    pub selling_seconds: Option<f64>,
    /// Accepted orders over `selling_seconds`.
    pub orders_per_second_selling_out: Option<f64>,
    /// The best single-order rate this is compared with.
    pub best_single_order: Option<BestSingleOrder>,
    pub post_sale: PostSaleFairness,
    /// Absent when the seed was not published or did not match its hash.
    pub pre_sale: Option<PreSaleOrder>,
    /// `queueSeed` hashes to the `queueSeedHash` published before the sale.
    pub seed_matches_hash: bool,
    /// Admitted buyers whose order was sent before `admittedUntil` and did not get a 201.
    pub admitted_refused_in_time: u64,
    /// CPU time each process of the stack (and the bench) used while buyers raced, most first:
    /// on a machine of `cores` cores, what one order costs the whole stack. Absent from results
    /// written before this measurement existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpu: Vec<crate::cpu::ProcessCpu>,
    pub payments: Payments,
}

impl QueuedDrop {
    /// What fails the run: sold = min(B, Q), the store agrees, no 5xx.
    pub fn invariants_hold(&self) -> bool {
        invariants_hold(
            self.sold_minus_expected,
            self.held_in_store_minus_sold,
            self.server_errors,
        )
    }
}

/// What every drop must keep, whatever its speed: sold = min(B, Q) (`sold_minus_expected` 0), the
/// store holds what was sold, and no answer was a 5xx.
fn invariants_hold(
    sold_minus_expected: i64,
    held_in_store_minus_sold: i64,
    server_errors: u64,
) -> bool {
    sold_minus_expected == 0 && held_in_store_minus_sold == 0 && server_errors == 0
}

/// One kind of request of the queued drop: how many, their answers and latencies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Requests {
    pub count: u64,
    pub statuses: Statuses,
    pub latency: Latency,
}

/// The sweep's best level, and where it was measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BestSingleOrder {
    pub orders_per_second: f64,
    pub in_flight: usize,
    /// "this run", or the earlier run it was read from (`--only queued`).
    pub measured: String,
}

/// Buyers who joined after `onSaleAt` are let in in the order they joined: a winner whose join was
/// sent after a loser's was answered is an inversion.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostSaleFairness {
    /// Post-sale buyers admitted.
    pub winners: usize,
    /// Post-sale buyers never admitted.
    pub losers: usize,
    /// winners × losers.
    pub pairs: u64,
    pub inversions: u64,
}

/// The pre-sale entries' admissions checked against the revealed seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreSaleOrder {
    /// The first pre-sale buyers in ascending HMAC order whose tickets fit the listing.
    pub expected: usize,
    pub admitted: usize,
    /// Admitted, but not among the expected.
    pub admitted_out_of_turn: usize,
    /// Expected, but not admitted.
    pub passed_over: usize,
    /// Pairs of admitted pre-sale buyers whose admissions ended in different seconds.
    pub comparable_pairs: u64,
    /// Of those, pairs admitted against the HMAC order.
    pub out_of_order_pairs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payments {
    pub attempted: usize,
    pub succeeded: u64,
    pub statuses: Statuses,
    pub seconds: f64,
    pub latency: Latency,
}

/// The organiser checking in distinct passes through NGINX, each once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkins {
    pub passes: usize,
    pub in_flight: usize,
    /// Answers 200: every pass is scanned once, so this should be `passes`.
    pub admitted: u64,
    pub statuses: Statuses,
    pub seconds: f64,
    pub checkins_per_second: f64,
    pub latency: Latency,
}

impl Checkins {
    /// Every scan admitted its pass, none answered otherwise.
    pub fn all_admitted(&self) -> bool {
        self.admitted == self.passes as u64 && self.statuses.len() == 1
    }
}

/// The expiry sweep over many due timers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sweep {
    pub timers: usize,
    pub arm_seconds: f64,
    pub fired: u64,
    pub sweeps: u64,
    pub seconds: f64,
    pub timers_per_second: f64,
    pub median_sweep_ms: f64,
    /// DynamoDB calls by operation, counted at a proxy.
    pub dynamodb_calls: BTreeMap<String, u64>,
    pub dynamodb_calls_total: u64,
    pub dynamodb_calls_per_timer: f64,
}

/// `sign-in` under a burst of wrong passwords.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Guessing {
    pub guesses: usize,
    pub limit_kb: u64,
    pub rss_before_kb: u64,
    pub rss_peak_kb: u64,
    pub rss_after_kb: u64,
    pub rss_anon_after_kb: u64,
    pub statuses: Statuses,
    pub seconds: f64,
    pub per_account: PerAccount,
}

/// The same burst concentrated on a few accounts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PerAccount {
    pub addresses: usize,
    pub statuses: Statuses,
    pub seconds: f64,
    pub rss_after_kb: u64,
}

/// `target/storefront-size.json`, written by `scripts/build-storefront.sh`: gzipped bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Storefront {
    pub wasm: u64,
    pub js: u64,
    pub css: u64,
    pub total: u64,
    pub budget: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed results (written before these types, by the untyped code) read back: a field
    /// renamed here without its JSON name would fail this.
    #[test]
    fn the_committed_results_read_back_and_serialise_to_the_same_json() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/results/latest.json");
        let text = std::fs::read_to_string(path).expect("bench/results/latest.json");
        let results: Results = serde_json::from_str(&text).expect("typed results");
        assert_eq!(results.drop.buyers, 2_000);
        let project = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let functions = devstack::functions::load(&project).expect("the function list");
        assert_eq!(results.cold_start.functions.len(), functions.len());
        let original: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            serde_json::to_value(&results).expect("serialises"),
            original
        );
    }
}
