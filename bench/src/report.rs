//! `latest.json` (every figure) and `latest.md` (the same, readable, each figure beside its budget).

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::budgets;

fn f(value: &Value) -> f64 {
    value.as_f64().unwrap_or(f64::NAN)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "within budget" } else { "OVER BUDGET" }
}

/// Writes both files; returns a short summary for the terminal.
pub fn write(dir: &Path, results: &Value) -> std::io::Result<String> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("latest.json"), format!("{results:#}\n"))?;
    let markdown = markdown(results);
    std::fs::write(dir.join("latest.md"), &markdown)?;
    Ok(summary(results))
}

fn summary(r: &Value) -> String {
    let (drop, ceiling) = (&r["drop"], &r["ceiling"]);
    format!(
        "bench: drop {:.0} orders/s ({:.0} % of DynamoDB Local's {:.0}/s), p99 {:.0} ms, sold − Q = {}, 5xx = {}; \
         results in bench/results/latest.md",
        f(&drop["requestsPerSecond"]),
        100.0 * f(&drop["requestsPerSecond"]) / f(&ceiling["transactionsPerSecond"]),
        f(&ceiling["transactionsPerSecond"]),
        f(&drop["latency"]["p99Ms"]),
        drop["soldMinusQuantity"],
        drop["serverErrors"],
    )
}

fn markdown(r: &Value) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmark results\n");
    let _ = writeln!(
        md,
        "{} on a machine with {} cores. Medians unless named; the machine is shared, so compare \
         ratios measured in the same run. Reproduce with `make bench` (after `make test`).\n",
        r["date"].as_str().unwrap_or("?"),
        r["cores"]
    );

    let cold = &r["coldStart"];
    let functions = cold["functions"].as_array().cloned().unwrap_or_default();
    let worst = |key: &str| functions.iter().map(|row| f(&row[key])).fold(0.0, f64::max);
    let _ = writeln!(md, "## Budgets\n");
    let _ = writeln!(md, "| what | measured | budget | |\n|---|---|---|---|");
    let mut row = |what: &str, measured: String, budget: String, ok: bool| {
        let _ = writeln!(md, "| {what} | {measured} | {budget} | {} |", verdict(ok));
    };
    let cold_worst = worst("coldStartMedianMs");
    row(
        "cold start, slowest function's median",
        format!("{cold_worst:.1} ms"),
        format!("≤ {} ms", budgets::COLD_START_MS),
        cold_worst <= budgets::COLD_START_MS,
    );
    let rss_worst = worst("idleRssKb");
    row(
        "idle RSS, largest function",
        format!("{:.1} MB", rss_worst / 1024.0),
        "≤ 10 MB".into(),
        rss_worst <= budgets::IDLE_RSS_KB as f64,
    );
    let warm_worst = worst("rssAfter1000RequestsKb");
    row(
        "RSS after 1,000 requests, largest function",
        format!("{:.1} MB", warm_worst / 1024.0),
        "≤ 10 MB".into(),
        warm_worst <= budgets::IDLE_RSS_KB as f64,
    );
    let total = f(&cold["totalIdleRssKb"]);
    row(
        "idle RSS, every function together",
        format!("{:.0} MB", total / 1024.0),
        "≤ 250 MB".into(),
        total <= budgets::TOTAL_RSS_KB as f64,
    );
    let size_worst = worst("binaryBytes");
    row(
        "stripped release binary, largest",
        format!("{:.1} MB", size_worst / 1_048_576.0),
        "≤ 15 MB".into(),
        size_worst <= budgets::BINARY_BYTES as f64,
    );
    let drop = &r["drop"];
    row(
        "drop: sold − quantity",
        drop["soldMinusQuantity"].to_string(),
        "exactly 0".into(),
        drop["soldMinusExpected"] == 0 && drop["heldInStoreMinusSold"] == 0,
    );
    row(
        "drop: 5xx answers",
        drop["serverErrors"].to_string(),
        "0".into(),
        drop["serverErrors"] == 0,
    );
    let ceiling = &r["ceiling"];
    let share = f(&drop["requestsPerSecond"]) / f(&ceiling["transactionsPerSecond"]);
    row(
        "drop: place-order throughput / DynamoDB Local's",
        format!(
            "{:.0} % ({:.0} / {:.0} per s)",
            100.0 * share,
            f(&drop["requestsPerSecond"]),
            f(&ceiling["transactionsPerSecond"])
        ),
        "≥ 80 %".into(),
        share >= budgets::DROP_SHARE_OF_CEILING,
    );
    let p99 = f(&drop["latency"]["p99Ms"]);
    row(
        "drop: place-order p99",
        format!("{p99:.0} ms"),
        "≤ 150 ms".into(),
        p99 <= budgets::DROP_P99_MS,
    );
    let guessing = &r["guessing"];
    if let Some(limit_kb) = guessing["limitKb"].as_u64() {
        let peak_kb = f(&guessing["rssPeakKb"]);
        row(
            "sign-in RSS under 200 concurrent wrong sign-ins, peak / after",
            format!(
                "{:.1} / {:.1} MB",
                peak_kb / 1024.0,
                f(&guessing["rssAfterKb"]) / 1024.0
            ),
            format!("< {} MiB (Knative limit)", limit_kb / 1024),
            peak_kb < limit_kb as f64,
        );
    }
    let storefront = &r["storefront"];
    if let Some(bytes) = storefront["total"].as_u64() {
        row(
            "storefront: wasm + js + css, gzipped",
            format!("{:.0} KB", bytes as f64 / 1024.0),
            "≤ 300 KB".into(),
            bytes <= budgets::STOREFRONT_GZIP_BYTES,
        );
    }

    let _ = writeln!(md, "\n## Ticket drop through NGINX\n");
    let _ = writeln!(
        md,
        "{} buyers, already signed in, race for one listing of {} tickets, {} requests in flight, one \
         order each, through NGINX to `place-order` with the whole stack running.\n",
        drop["buyers"], drop["tickets"], drop["inFlight"]
    );
    let _ = writeln!(md, "| figure | value |\n|---|---|");
    for (name, value) in [
        ("orders accepted", drop["ordersAccepted"].to_string()),
        ("sold − quantity", drop["soldMinusQuantity"].to_string()),
        (
            "held in DynamoDB − sold",
            drop["heldInStoreMinusSold"].to_string(),
        ),
        ("answers by status", drop["statuses"].to_string()),
        ("5xx", drop["serverErrors"].to_string()),
        ("wall time", format!("{:.2} s", f(&drop["seconds"]))),
        (
            "place-order throughput",
            format!("{:.0} requests/s", f(&drop["requestsPerSecond"])),
        ),
        (
            "latency p50 / p95 / p99 / max",
            format!(
                "{:.0} / {:.0} / {:.0} / {:.0} ms",
                f(&drop["latency"]["p50Ms"]),
                f(&drop["latency"]["p95Ms"]),
                f(&drop["latency"]["p99Ms"]),
                f(&drop["latency"]["maxMs"])
            ),
        ),
        (
            "then paid (test card, 20 at a time)",
            format!(
                "{} of {} attempted, statuses {}, p50 {:.0} ms",
                drop["payments"]["succeeded"],
                drop["payments"]["attempted"],
                drop["payments"]["statuses"],
                f(&drop["payments"]["latency"]["p50Ms"])
            ),
        ),
    ] {
        let _ = writeln!(md, "| {name} | {value} |");
    }

    let _ = writeln!(md, "\n## The ceiling: DynamoDB Local alone\n");
    let _ = writeln!(
        md,
        "The same conditional transaction `place-order` issues (hold on the listing, the order, its \
         outbox record), {} attempts on one listing of {} with {} in flight, straight to DynamoDB Local \
         from this process with the same conflict retries: {:.0} transactions/s ({} held, {} refused, \
         {} failed), p50 {:.0} ms, p99 {:.0} ms.\n",
        ceiling["transactions"],
        drop["tickets"],
        drop["inFlight"],
        f(&ceiling["transactionsPerSecond"]),
        ceiling["held"],
        ceiling["refused"],
        ceiling["failed"],
        f(&ceiling["latency"]["p50Ms"]),
        f(&ceiling["latency"]["p99Ms"])
    );
    let _ = writeln!(md, "{}\n", crate::report::where_the_rest_goes(r));
    let _ = writeln!(
        md,
        "The p99 budget: the winners' latency is set by how fast one listing's item takes holds. \
         DynamoDB Local alone, with the same {} in flight on that one item, has a p99 of {:.0} ms: \
         the transactions on one item are applied one at a time and the rest are cancelled as \
         TransactionConflict and retried with backoff. Even with perfect queueing, the last of {} \
         requests in flight waits for all those before it: {} / {:.0} per s = {:.0} ms. Meeting 150 ms \
         needs the hold spread over several items (the sharding `docs/architecture.md` describes: \
         the listing's inventory split across N replica items, an order taking from one), not a \
         faster function. `place-order` queues one instance's holds on a listing, 4 at a time \
         (`orders::gate`), instead of sending all of them to conflict and back off; on 2026-11-24 the \
         drop's p99 was 1.7 times the ceiling's own before that change and 1.0 and 1.6 times it in \
         two runs after: within this shared machine's noise, so not shown to matter.\n",
        drop["inFlight"],
        f(&ceiling["latency"]["p99Ms"]),
        drop["inFlight"],
        drop["inFlight"],
        f(&ceiling["transactionsPerSecond"]),
        1000.0 * f(&drop["inFlight"]) / f(&ceiling["transactionsPerSecond"]),
    );

    if guessing.is_object() {
        let _ = writeln!(md, "## Sign-in under password guessing\n");
        let _ = writeln!(
            md,
            "The release `sign-in`, started alone with the stack's environment, gets {} wrong \
             sign-ins at once for {} different addresses (so the per-account limit refuses none: each \
             costs an Argon2id hash with 19 MiB of working memory). Resident memory: {:.1} MB before, \
             {:.1} MB at the peak (sampled every 5 ms), {:.1} MB after ({:.1} MB of it anonymous); its \
             Knative limit is {} MiB. Answers {} in {:.1} s: one worker hashes, in one buffer it reuses; \
             two requests at a time do their DynamoDB calls and their hash, the others wait in a \
             bounded queue, and those the queue cannot hold, or whose turn would come after the 10 s \
             request deadline, get 503 with `Retry-After`. Then {} at once for {} addresses: answers \
             {} in {:.1} s, RSS after {:.1} MB; after an address's tenth attempt the per-account limit \
             answers 429 without hashing, but for one attempt each time a lock (1 s, doubling) runs \
             out.\n",
            guessing["guesses"],
            guessing["guesses"],
            f(&guessing["rssBeforeKb"]) / 1024.0,
            f(&guessing["rssPeakKb"]) / 1024.0,
            f(&guessing["rssAfterKb"]) / 1024.0,
            f(&guessing["rssAnonAfterKb"]) / 1024.0,
            guessing["limitKb"].as_u64().unwrap_or(0) / 1024,
            guessing["statuses"],
            f(&guessing["seconds"]),
            guessing["guesses"],
            guessing["perAccount"]["addresses"],
            guessing["perAccount"]["statuses"],
            f(&guessing["perAccount"]["seconds"]),
            f(&guessing["perAccount"]["rssAfterKb"]) / 1024.0,
        );
    }

    let sweep = &r["sweep"];
    let _ = writeln!(md, "## Expiry sweep\n");
    let _ = writeln!(
        md,
        "{} timers armed through `arm-timer` in {:.1} s, all due; `expire` called until it found none: \
         {} fired in {} sweeps over {:.1} s ({:.0} timers/s, median sweep {:.0} ms). DynamoDB calls, \
         counted at a proxy in front of DynamoDB Local: {} in all, {:.2} per timer, by operation {}.\n",
        sweep["timers"],
        f(&sweep["armSeconds"]),
        sweep["fired"],
        sweep["sweeps"],
        f(&sweep["seconds"]),
        f(&sweep["timersPerSecond"]),
        f(&sweep["medianSweepMs"]),
        sweep["dynamodbCallsTotal"],
        f(&sweep["dynamodbCallsPerTimer"]),
        sweep["dynamodbCalls"]
    );

    let _ = writeln!(md, "## Every function\n");
    let (file, anon): (f64, f64) = functions
        .iter()
        .map(|row| (f(&row["rssFileKb"]), f(&row["rssAnonKb"])))
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let _ = writeln!(
        md,
        "What the memory is: after the 1,000 requests, {:.0} % of all the functions' resident memory \
         is file-backed, the pages of their own binaries (and libc) that the kernel maps in around each \
         page fault, {:.0} MB in all; anonymous memory (heap, stacks, runtime) is {:.0} MB in all, \
         {:.1} MB per function on average. Resident size follows binary size almost one for one, so \
         the lever on memory is binary size: `jsonwebtoken` now uses the aws-lc backend the AWS SDK \
         already links instead of RustCrypto's RSA, ECDSA and Ed25519 (0.6 MB less per function). \
         The images' `image` profile (fat LTO, one codegen unit) is smaller still; these figures are \
         the `release` profile.\n",
        100.0 * file / (file + anon).max(1.0),
        file / 1024.0,
        anon / 1024.0,
        anon / 1024.0 / (functions.len().max(1) as f64),
    );
    let _ = writeln!(
        md,
        "| function | cold start median (ms) | max (ms) | idle RSS (KB) | RSS after 1,000 requests (KB) | of which file / anon (KB) | binary (MB) |\n|---|---|---|---|---|---|---|"
    );
    for row in &functions {
        let _ = writeln!(
            md,
            "| {} | {:.1} | {:.1} | {} | {} | {} / {} | {:.1} |",
            row["function"].as_str().unwrap_or("?"),
            f(&row["coldStartMedianMs"]),
            f(&row["coldStartMaxMs"]),
            row["idleRssKb"],
            row["rssAfter1000RequestsKb"],
            row["rssFileKb"],
            row["rssAnonKb"],
            f(&row["binaryBytes"]) / 1_048_576.0
        );
    }
    md
}

/// Explains the gap between the drop and the ceiling from the run's own numbers.
pub fn where_the_rest_goes(r: &Value) -> String {
    let drop = &r["drop"];
    let accepted = f(&drop["ordersAccepted"]);
    let buyers = f(&drop["buyers"]);
    format!(
        "Where the rest goes: every drop request also crosses NGINX and a function over loopback HTTP, \
         verifies a JWT and reads the listing's replica (`GetItem`) before the transaction; the {:.0} \
         winners also publish `order.created` to NATS and wait for its acknowledgement, whose handlers \
         (`hold-tickets`, `arm-timer`, `copy-order`) then write to the same DynamoDB Local during the \
         drop. The {:.0} losers after the sell-out are refused by that read, without a transaction, so \
         the drop's request rate is not bounded by the transaction rate alone. DynamoDB Local, NGINX, \
         NATS, the functions and this load generator share {} cores.",
        accepted,
        buyers - accepted,
        r["cores"]
    )
}
