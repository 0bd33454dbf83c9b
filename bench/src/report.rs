//! `latest.json` (every figure) and `latest.md` (the same, readable, each figure beside its budget),
//! both from the typed [`Results`].
//!
//! The page is the budget table, then one section per measurement ([`SECTIONS`]): a new
//! measurement is a field of `Results`, its rows in [`budget_rows`] if it has a budget, and one line
//! in `SECTIONS`.

use std::fmt::Write as _;
use std::path::Path;

use crate::budgets;
use crate::cpu::ProcessCpu;
use crate::results::{CeilingLevel, Latency, QueuedDrop, Requests, Results, Statuses};

/// The sections after the budget table, in order.
const SECTIONS: &[fn(&Results, &mut String)] = &[
    drop_section,
    queued_section,
    check_in_section,
    ceiling_section,
    ceiling_sweep_section,
    guessing_section,
    sweep_section,
    functions_section,
    images_section,
];

/// Image and shipping-binary sizes (`make images` first; "not built" otherwise).
fn images_section(results: &Results, md: &mut String) {
    if let Some(sizes) = &results.images {
        md.push_str(&crate::images::markdown(sizes));
    }
}

/// Statuses as one compact JSON object, `{"201":500,"400":1500}`.
fn statuses(statuses: &Statuses) -> String {
    serde_json::to_string(statuses).unwrap_or_default()
}

fn verdict(ok: bool) -> &'static str {
    if ok { "within budget" } else { "OVER BUDGET" }
}

/// Writes both files; returns a short summary for the terminal.
pub fn write(dir: &Path, results: &Results) -> std::io::Result<String> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(results)?;
    std::fs::write(dir.join("latest.json"), format!("{json}\n"))?;
    let markdown = markdown(results);
    std::fs::write(dir.join("latest.md"), &markdown)?;
    Ok(summary(results))
}

fn summary(r: &Results) -> String {
    let (drop, ceiling) = (&r.drop, &r.ceiling);
    if let Some((selling, best)) = selling_out_and_best(r) {
        return format!(
            "bench: drop sold out at {selling:.0} orders/s ({:.1} × DynamoDB Local's best single-order {:.0}/s \
             at {} in flight), p99 {:.0} ms, sold − Q = {}, 5xx = {}; results in bench/results/latest.md",
            selling / best.orders_per_second,
            best.orders_per_second,
            best.in_flight,
            drop.latency.p99_ms,
            drop.sold_minus_quantity,
            drop.server_errors,
        );
    }
    format!(
        "bench: drop {:.0} orders/s ({:.0} % of DynamoDB Local's {:.0}/s), p99 {:.0} ms, sold − Q = {}, 5xx = {}; \
         results in bench/results/latest.md",
        drop.requests_per_second,
        100.0 * drop.requests_per_second / ceiling.transactions_per_second,
        ceiling.transactions_per_second,
        drop.latency.p99_ms,
        drop.sold_minus_quantity,
        drop.server_errors,
    )
}

fn markdown(r: &Results) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmark results\n");
    let _ = writeln!(
        md,
        "{} on a machine with {} cores. Medians unless named; the machine is shared, so compare \
         ratios measured in the same run. Reproduce with `make bench` (after `make test`).\n",
        r.date, r.cores
    );
    let _ = writeln!(md, "## Budgets\n");
    let _ = writeln!(md, "| what | measured | budget | |\n|---|---|---|---|");
    for (what, measured, budget, ok) in budget_rows(r) {
        let _ = writeln!(md, "| {what} | {measured} | {budget} | {} |", verdict(ok));
    }
    for section in SECTIONS {
        section(r, &mut md);
    }
    md
}

/// The budget table's rows: what, measured, budget, whether it is kept.
fn budget_rows(r: &Results) -> Vec<(&'static str, String, String, bool)> {
    let functions = &r.cold_start.functions;
    let worst = |figure: fn(&crate::results::Function) -> f64| {
        functions.iter().map(figure).fold(0.0, f64::max)
    };
    let mut rows = Vec::new();
    let cold_worst = worst(|f| f.cold_start_median_ms);
    rows.push((
        "cold start, slowest function's median",
        format!("{cold_worst:.1} ms"),
        format!("≤ {} ms", budgets::COLD_START_MS),
        cold_worst <= budgets::COLD_START_MS,
    ));
    let rss_worst = worst(|f| f.idle_rss_kb as f64);
    rows.push((
        "idle RSS, largest function",
        format!("{:.1} MB", rss_worst / 1024.0),
        "≤ 10 MB".into(),
        rss_worst <= budgets::IDLE_RSS_KB as f64,
    ));
    let warm_worst = worst(|f| f.rss_after1000_requests_kb as f64);
    rows.push((
        "RSS after 1,000 requests, largest function",
        format!("{:.1} MB", warm_worst / 1024.0),
        "≤ 10 MB".into(),
        warm_worst <= budgets::IDLE_RSS_KB as f64,
    ));
    let total = r.cold_start.total_idle_rss_kb;
    rows.push((
        "idle RSS, every function together",
        format!("{:.0} MB", total as f64 / 1024.0),
        "≤ 250 MB".into(),
        total <= budgets::TOTAL_RSS_KB,
    ));
    let size_worst = worst(|f| f.binary_bytes as f64);
    rows.push((
        "stripped release binary, largest",
        format!("{:.1} MB", size_worst / 1_048_576.0),
        "≤ 15 MB".into(),
        size_worst <= budgets::BINARY_BYTES as f64,
    ));
    if let Some(images) = &r.images {
        if let Some(largest) = images
            .largest_binary()
            .and_then(|a| Some((a, a.binary_bytes?)))
        {
            rows.push((
                "shipping (image profile, musl) binary, largest",
                format!(
                    "{:.1} MB ({})",
                    largest.1 as f64 / 1_048_576.0,
                    largest.0.image
                ),
                "≤ 15 MB".into(),
                largest.1 <= budgets::BINARY_BYTES,
            ));
        }
        if let Some(largest) = images
            .largest_function_image()
            .and_then(|a| Some((a, a.image_bytes?)))
        {
            rows.push((
                "function image, largest",
                format!(
                    "{:.1} MB ({})",
                    largest.1 as f64 / 1_048_576.0,
                    largest.0.image
                ),
                "≤ 15 MB".into(),
                !largest.0.over_budget(),
            ));
        }
    }
    let (drop, ceiling) = (&r.drop, &r.ceiling);
    rows.push((
        "drop: sold − quantity",
        drop.sold_minus_quantity.to_string(),
        "exactly 0".into(),
        drop.sold_minus_expected == 0 && drop.held_in_store_minus_sold == 0,
    ));
    rows.push((
        "drop: 5xx answers",
        drop.server_errors.to_string(),
        "0".into(),
        drop.server_errors == 0,
    ));
    if let Some((selling, best)) = selling_out_and_best(r) {
        let times = selling / best.orders_per_second;
        rows.push((
            "drop: orders/s while selling out / best single-order rate",
            format!(
                "{times:.1} × ({selling:.0} / {:.0} per s, best at {} in flight)",
                best.orders_per_second, best.in_flight
            ),
            "≥ 2 ×".into(),
            times >= budgets::DROP_TIMES_BEST_SINGLE_ORDER,
        ));
    } else {
        // Results from before the sweep: the ceiling at the drop's own concurrency.
        let share = drop.requests_per_second / ceiling.transactions_per_second;
        rows.push((
            "drop: place-order throughput / DynamoDB Local's",
            format!(
                "{:.0} % ({:.0} / {:.0} per s)",
                100.0 * share,
                drop.requests_per_second,
                ceiling.transactions_per_second
            ),
            "≥ 80 %".into(),
            share >= budgets::DROP_SHARE_OF_CEILING,
        ));
    }
    rows.push((
        "drop: place-order p99",
        format!("{:.0} ms", drop.latency.p99_ms),
        "≤ 150 ms".into(),
        drop.latency.p99_ms <= budgets::DROP_P99_MS,
    ));
    if let Some(guessing) = &r.guessing {
        rows.push((
            "sign-in RSS under 200 concurrent wrong sign-ins, peak / after",
            format!(
                "{:.1} / {:.1} MB",
                guessing.rss_peak_kb as f64 / 1024.0,
                guessing.rss_after_kb as f64 / 1024.0
            ),
            format!("< {} MiB (Knative limit)", guessing.limit_kb / 1024),
            guessing.rss_peak_kb < guessing.limit_kb,
        ));
    }
    if let Some(storefront) = &r.storefront {
        rows.push((
            "storefront: wasm + js + css, gzipped",
            format!("{:.0} KB", storefront.total as f64 / 1024.0),
            "≤ 300 KB".into(),
            storefront.total <= budgets::STOREFRONT_GZIP_BYTES,
        ));
    }
    rows
}

fn drop_section(r: &Results, md: &mut String) {
    let drop = &r.drop;
    let _ = writeln!(md, "\n## Ticket drop through NGINX\n");
    let _ = writeln!(
        md,
        "{} buyers, already signed in, race for one listing of {} tickets, {} requests in flight, one \
         order each, through NGINX to `place-order` with the whole stack running.\n",
        drop.buyers, drop.tickets, drop.in_flight
    );
    let _ = writeln!(md, "| figure | value |\n|---|---|");
    for (name, value) in [
        ("orders accepted", drop.orders_accepted.to_string()),
        ("sold − quantity", drop.sold_minus_quantity.to_string()),
        (
            "held in DynamoDB − sold",
            drop.held_in_store_minus_sold.to_string(),
        ),
        ("answers by status", statuses(&drop.statuses)),
        ("5xx", drop.server_errors.to_string()),
        ("wall time", format!("{:.2} s", drop.seconds)),
        (
            "place-order throughput",
            format!("{:.0} requests/s", drop.requests_per_second),
        ),
        (
            "sold out after",
            drop.sell_out_seconds
                .map_or("not measured".to_owned(), |seconds| {
                    format!(
                        "{seconds:.2} s ({:.0} orders/s)",
                        drop.orders_accepted as f64 / seconds.max(f64::EPSILON)
                    )
                }),
        ),
        (
            "latency p50 / p95 / p99 / max",
            format!(
                "{:.0} / {:.0} / {:.0} / {:.0} ms",
                drop.latency.p50_ms, drop.latency.p95_ms, drop.latency.p99_ms, drop.latency.max_ms
            ),
        ),
        (
            "then paid (test card, 20 at a time)",
            format!(
                "{} of {} attempted, statuses {}, p50 {:.0} ms",
                drop.payments.succeeded,
                drop.payments.attempted,
                statuses(&drop.payments.statuses),
                drop.payments.latency.p50_ms
            ),
        ),
    ] {
        let _ = writeln!(md, "| {name} | {value} |");
    }
    cpu_section(
        &drop.cpu,
        drop.orders_accepted,
        Some(drop.seconds),
        r.cores,
        md,
    );
}

/// How many processes the CPU table names before it sums up the rest.
const CPU_ROWS: usize = 10;

/// Where the processor time of a drop went, process by process, per accepted order; with the
/// race's wall time, how much of the machine it had. On a machine this size, the sum per order
/// bounds the rate, whichever process spends it.
fn cpu_section(
    cpu: &[ProcessCpu],
    orders: usize,
    seconds: Option<f64>,
    cores: usize,
    md: &mut String,
) {
    if cpu.is_empty() || orders == 0 {
        return;
    }
    let orders = orders as f64;
    let total: f64 = cpu.iter().map(|p| p.cpu_ms).sum();
    let _ = writeln!(
        md,
        "\nProcessor time while buyers raced (user + system, from `/proc`), per accepted order:\n"
    );
    let _ = writeln!(
        md,
        "| process | CPU | per order | share |\n|---|---|---|---|"
    );
    let row = |md: &mut String, name: &str, ms: f64| {
        let _ = writeln!(
            md,
            "| {name} | {:.1} s | {:.1} ms | {:.0} % |",
            ms / 1_000.0,
            ms / orders,
            100.0 * ms / total.max(f64::EPSILON)
        );
    };
    for process in cpu.iter().take(CPU_ROWS) {
        row(md, &format!("`{}`", process.process), process.cpu_ms);
    }
    if cpu.len() > CPU_ROWS {
        let rest: f64 = cpu.iter().skip(CPU_ROWS).map(|p| p.cpu_ms).sum();
        row(md, &format!("{} others", cpu.len() - CPU_ROWS), rest);
    }
    row(md, "**all**", total);
    let per_order = total / orders;
    let mut line = format!(
        "\nOne order cost the whole machine {per_order:.1} ms of CPU: at that cost, {cores} cores \
         sell at most {:.0} orders/s",
        1_000.0 * cores as f64 / per_order.max(f64::EPSILON)
    );
    if let Some(seconds) = seconds.filter(|s| *s > 0.0) {
        let _ = write!(
            line,
            "; the race kept {:.0} % of the {cores} cores busy",
            100.0 * total / (1_000.0 * seconds * cores as f64)
        );
    }
    let _ = writeln!(md, "{line}.");
}

/// The queued drop: its goals, each met or not, then its figures.
fn queued_section(r: &Results, md: &mut String) {
    let Some(q) = &r.queued else {
        return;
    };
    let _ = writeln!(md, "\n## Queued drop through NGINX\n");
    let _ = writeln!(
        md,
        "{} buyers, already signed in, for one drop of {} tickets whose `onSaleAt` is {} s after the \
         listing; {} requests in flight at most across all of them. Half join the queue before \
         `onSaleAt`, half at it; each then reads its entry at the storefront's pace \
         (`contract::drops::next_read_ms`, `Retry-After` honoured), orders (one ticket, with an \
         `Idempotency-Key`) as soon as it is admitted, and stops at `ordered`, `lapsed` or \
         `sold-out`, or when every ticket is ordered. Buyers are counted pre- or post-sale by their \
         entry's `joinedAt`: {} before, {} after, {} not joined ({} meant to join before but were \
         answered after `onSaleAt`).\n",
        q.buyers,
        q.tickets,
        q.on_sale_after_seconds,
        q.in_flight,
        q.pre_sale_buyers,
        q.post_sale_buyers,
        q.not_joined,
        q.pre_sale_joins_answered_late,
    );
    let _ = writeln!(md, "| goal | measured | met |\n|---|---|---|");
    for (goal, measured, met) in queued_goals(q) {
        let _ = writeln!(
            md,
            "| {goal} | {measured} | {} |",
            if met { "yes" } else { "NO" }
        );
    }
    let _ = writeln!(md, "\n| figure | value |\n|---|---|");
    let seconds = |s: Option<f64>| s.map_or("not sold out".to_owned(), |s| format!("{s:.2} s"));
    for (name, value) in [
        ("join (`POST …/queue`)", requests(&q.joins)),
        ("queue reads (`GET …/queue`)", requests(&q.reads)),
        ("place-order", requests(&q.orders)),
        ("where the buyers ended", statuses(&q.final_states)),
        (
            "orders accepted (201) / ordered in all (also those whose 201 was lost)",
            format!(
                "{} / {}",
                q.orders_accepted,
                q.tickets as i64 + q.sold_minus_quantity
            ),
        ),
        (
            "held in DynamoDB − sold",
            q.held_in_store_minus_sold.to_string(),
        ),
        (
            "from `onSaleAt` to sold out (last accepted order)",
            seconds(q.sold_out_after_on_sale_seconds),
        ),
        (
            "selling (first order sent to last accepted)",
            match (q.selling_seconds, q.orders_per_second_selling_out) {
                (Some(s), Some(rate)) => format!("{s:.2} s, {rate:.0} orders/s"),
                _ => "not measured".to_owned(),
            },
        ),
        (
            "then paid (test card, 20 at a time)",
            format!(
                "{} of {} attempted, statuses {}, p50 {:.0} ms",
                q.payments.succeeded,
                q.payments.attempted,
                statuses(&q.payments.statuses),
                q.payments.latency.p50_ms
            ),
        ),
    ] {
        let _ = writeln!(md, "| {name} | {value} |");
    }
    if let Some(best) = &q.best_single_order {
        let _ = writeln!(
            md,
            "\nThe best single-order rate it is set against, {:.0}/s at {} in flight, is from {}.",
            best.orders_per_second, best.in_flight, best.measured
        );
    }
    let _ = writeln!(
        md,
        "\nPre-sale admissions are timed by their `admittedUntil` (the admission's time plus the window, \
         in whole seconds; admissions are serialised on the listing's replica), so only pairs admitted \
         in different seconds are compared; the bench's own reads come only every 2 to 8 s."
    );
    // Joins and reads of every buyer, winners or not, are in it: per order sold.
    let sold = usize::try_from(q.sold_minus_quantity + q.tickets as i64).unwrap_or(0);
    cpu_section(&q.cpu, sold, None, r.cores, md);
}

/// The queued drop's goals: what, measured, met.
fn queued_goals(q: &QueuedDrop) -> Vec<(&'static str, String, bool)> {
    let mut goals = vec![
        (
            "sold − quantity",
            q.sold_minus_quantity.to_string(),
            q.sold_minus_expected == 0 && q.held_in_store_minus_sold == 0,
        ),
        (
            "5xx answers (and no answer)",
            q.server_errors.to_string(),
            q.server_errors == 0,
        ),
    ];
    let post = &q.post_sale;
    goals.push((
        "post-sale buyers admitted in the order they joined: inversions",
        if post.winners == 0 {
            format!(
                "0: no post-sale buyer won ({} lost), as expected with more pre-sale entries than tickets",
                post.losers
            )
        } else {
            format!(
                "{} of {} (winner, loser) pairs ({:.2} %)",
                post.inversions,
                post.pairs,
                100.0 * post.inversions as f64 / post.pairs.max(1) as f64
            )
        },
        post.inversions == 0,
    ));
    goals.push((
        "`queueSeed` hashes to the `queueSeedHash` published before the sale",
        if q.seed_matches_hash {
            "yes"
        } else {
            "no (or no seed)"
        }
        .to_owned(),
        q.seed_matches_hash,
    ));
    match &q.pre_sale {
        Some(pre) => {
            goals.push((
                "pre-sale buyers admitted are the first in HMAC order that fit",
                format!(
                    "{} admitted, the first {} expected (the tickets, and one more per admission \
                     that lapsed); {} out of turn, {} passed over",
                    pre.admitted, pre.expected, pre.admitted_out_of_turn, pre.passed_over
                ),
                pre.admitted_out_of_turn == 0 && pre.passed_over == 0,
            ));
            goals.push((
                "pre-sale admissions out of HMAC order",
                format!(
                    "{} of {} pairs admitted in different seconds",
                    pre.out_of_order_pairs, pre.comparable_pairs
                ),
                pre.out_of_order_pairs == 0,
            ));
        }
        None => goals.push((
            "pre-sale buyers admitted in HMAC order",
            "not checked: no seed matching its hash".to_owned(),
            false,
        )),
    }
    goals.push((
        "admitted buyers who ordered in time and got no 201",
        q.admitted_refused_in_time.to_string(),
        q.admitted_refused_in_time == 0,
    ));
    if let (Some(rate), Some(best)) = (q.orders_per_second_selling_out, &q.best_single_order)
        && best.orders_per_second > 0.0
    {
        let times = rate / best.orders_per_second;
        goals.push((
            "orders/s while selling out / best single-order rate (the direct drop's budget)",
            format!(
                "{times:.1} × ({rate:.0} / {:.0} per s, best at {} in flight)",
                best.orders_per_second, best.in_flight
            ),
            times >= budgets::DROP_TIMES_BEST_SINGLE_ORDER,
        ));
    }
    goals
}

/// `count, p50 / p99, statuses` of one kind of request.
fn requests(requests: &Requests) -> String {
    let Latency { p50_ms, p99_ms, .. } = requests.latency;
    format!(
        "{} requests, p50 {p50_ms:.0} ms, p99 {p99_ms:.0} ms, statuses {}",
        requests.count,
        statuses(&requests.statuses)
    )
}

/// One line for the terminal after `--only queued`.
pub fn queued_summary(q: &QueuedDrop) -> String {
    format!(
        "bench: queued drop of {} tickets for {} buyers: sold − Q = {}, 5xx = {}, sold out {} after \
         onSaleAt, joins p99 {:.0} ms, reads p99 {:.0} ms, orders p99 {:.0} ms; results in \
         bench/results/latest.md",
        q.tickets,
        q.buyers,
        q.sold_minus_quantity,
        q.server_errors,
        q.sold_out_after_on_sale_seconds
            .map_or("never".to_owned(), |s| format!("{s:.1} s")),
        q.joins.latency.p99_ms,
        q.reads.latency.p99_ms,
        q.orders.latency.p99_ms,
    )
}

/// The organiser's scans: architecture.md sets no budget for them, so their own table.
fn check_in_section(r: &Results, md: &mut String) {
    let Some(checkins) = &r.checkins else {
        return;
    };
    let _ = writeln!(md, "\n## Check-in\n");
    let _ = writeln!(
        md,
        "The organiser checks in {} distinct passes (bought and paid beforehand: 100 orders of 10), each \
         once, {} in flight, `POST /api/checkins` through NGINX: every answer should be 200.\n",
        checkins.passes, checkins.in_flight
    );
    let _ = writeln!(md, "| figure | value |\n|---|---|");
    for (name, value) in [
        (
            "check-ins per second",
            format!(
                "{:.0} ({:.2} s in all)",
                checkins.checkins_per_second, checkins.seconds
            ),
        ),
        (
            "latency p50 / p99",
            format!(
                "{:.0} / {:.0} ms",
                checkins.latency.p50_ms, checkins.latency.p99_ms
            ),
        ),
        (
            "200s",
            format!("{} of {}", checkins.admitted, checkins.passes),
        ),
        ("answers by status", statuses(&checkins.statuses)),
    ] {
        let _ = writeln!(md, "| {name} | {value} |");
    }
}

/// One line for the terminal after `--only checkins`.
pub fn check_in_summary(checkins: &crate::results::Checkins) -> String {
    format!(
        "bench: {:.0} check-ins/s, p50 {:.0} ms, p99 {:.0} ms, {} of {} answered 200; results in \
         bench/results/latest.md",
        checkins.checkins_per_second,
        checkins.latency.p50_ms,
        checkins.latency.p99_ms,
        checkins.admitted,
        checkins.passes
    )
}

fn ceiling_section(r: &Results, md: &mut String) {
    let (drop, ceiling) = (&r.drop, &r.ceiling);
    let _ = writeln!(md, "\n## The ceiling: DynamoDB Local alone\n");
    let _ = writeln!(
        md,
        "The same conditional transaction `place-order` issues (hold on the listing, the order, its \
         outbox record), {} attempts on one listing of {} with {} in flight, straight to DynamoDB Local \
         from this process with the same conflict retries: {:.0} transactions/s ({} held, {} refused, \
         {} failed), p50 {:.0} ms, p99 {:.0} ms.\n",
        ceiling.transactions,
        drop.tickets,
        drop.in_flight,
        ceiling.transactions_per_second,
        ceiling.held,
        ceiling.refused,
        ceiling.failed,
        ceiling.latency.p50_ms,
        ceiling.latency.p99_ms
    );
    let _ = writeln!(md, "{}\n", where_the_rest_goes(r));
    let _ = writeln!(
        md,
        "The p99 budget: the winners' latency is set by how fast one listing's item takes holds. \
         DynamoDB Local alone, with the same {} in flight on that one item, has a p99 of {:.0} ms: \
         the transactions on one item are applied one at a time and the rest are cancelled as \
         TransactionConflict and retried with backoff. Even with perfect queueing, the last of {} \
         requests in flight waits for all those before it: {} / {:.0} per s = {:.0} ms. Meeting 150 ms \
         needs the hold spread over several items (the sharding `docs/architecture.md` describes: \
         the listing's inventory split across N replica items, an order taking from one), not a \
         faster function. `place-order` commits one instance's holds on a listing in groups (one \
         transaction in flight per listing, up to 33 orders in it: `orders::group_commit`), so its \
         throughput is not bound by the one-order-per-transaction ceiling above; the latency of the \
         last in line still is queueing behind the others.\n",
        drop.in_flight,
        ceiling.latency.p99_ms,
        drop.in_flight,
        drop.in_flight,
        ceiling.transactions_per_second,
        1000.0 * drop.in_flight as f64 / ceiling.transactions_per_second,
    );
}

/// The drop's orders per second while selling out and the sweep's best level, when both were
/// measured.
fn selling_out_and_best(r: &Results) -> Option<(f64, &CeilingLevel)> {
    let best = r.ceiling_sweep.as_ref()?.best()?;
    let selling = r.drop.orders_per_second_selling_out()?;
    (best.orders_per_second > 0.0).then_some((selling, best))
}

/// The sweep's levels, the best marked, and the drop's group-commit rate beside it.
fn ceiling_sweep_section(r: &Results, md: &mut String) {
    let Some(sweep) = &r.ceiling_sweep else {
        return;
    };
    let _ = writeln!(
        md,
        "### The best single-order rate: 1 … 256 in flight
"
    );
    let _ = writeln!(
        md,
        "The same single-order transaction on one listing with more tickets than any level sells (every \
         transaction a hold), each level starting transactions for {:.0} s on a fresh listing; the rate \
         counts holds over the whole time, the last in flight included. Contention, not the one item, \
         is the limit: the best level is the one-order ceiling.\n",
        sweep.seconds_per_level
    );
    let best_in_flight = sweep.best().map(|best| best.in_flight);
    let _ = writeln!(
        md,
        "| in flight | orders/s | held | failed | p50 (ms) | p99 (ms) | |\n|---|---|---|---|---|---|---|"
    );
    for level in &sweep.levels {
        let mark = if Some(level.in_flight) == best_in_flight {
            "best"
        } else {
            ""
        };
        let _ = writeln!(
            md,
            "| {} | {:.0} | {} | {} | {:.0} | {:.0} | {mark} |",
            level.in_flight,
            level.orders_per_second,
            level.held,
            level.failed,
            level.latency.p50_ms,
            level.latency.p99_ms
        );
    }
    if let Some((selling, best)) = selling_out_and_best(r) {
        let _ = writeln!(
            md,
            "\nThe direct drop, through NGINX with group commit, sold its {} tickets in {:.2} s: {selling:.0} \
             orders/s, {:.1} × the best single-order rate ({:.0}/s at {} in flight), in the same run.",
            r.drop.orders_accepted,
            r.drop.sell_out_seconds.unwrap_or_default(),
            selling / best.orders_per_second,
            best.orders_per_second,
            best.in_flight
        );
    }
    let _ = writeln!(md);
}

fn guessing_section(r: &Results, md: &mut String) {
    let Some(guessing) = &r.guessing else {
        return;
    };
    let kb_as_mb = |kb: u64| kb as f64 / 1024.0;
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
        guessing.guesses,
        guessing.guesses,
        kb_as_mb(guessing.rss_before_kb),
        kb_as_mb(guessing.rss_peak_kb),
        kb_as_mb(guessing.rss_after_kb),
        kb_as_mb(guessing.rss_anon_after_kb),
        guessing.limit_kb / 1024,
        statuses(&guessing.statuses),
        guessing.seconds,
        guessing.guesses,
        guessing.per_account.addresses,
        statuses(&guessing.per_account.statuses),
        guessing.per_account.seconds,
        kb_as_mb(guessing.per_account.rss_after_kb),
    );
}

fn sweep_section(r: &Results, md: &mut String) {
    let sweep = &r.sweep;
    let _ = writeln!(md, "## Expiry sweep\n");
    let _ = writeln!(
        md,
        "{} timers armed through `arm-timer` in {:.1} s, all due; `expire` called until it found none: \
         {} fired in {} sweeps over {:.1} s ({:.0} timers/s, median sweep {:.0} ms). DynamoDB calls, \
         counted at a proxy in front of DynamoDB Local: {} in all, {:.2} per timer, by operation {}.\n",
        sweep.timers,
        sweep.arm_seconds,
        sweep.fired,
        sweep.sweeps,
        sweep.seconds,
        sweep.timers_per_second,
        sweep.median_sweep_ms,
        sweep.dynamodb_calls_total,
        sweep.dynamodb_calls_per_timer,
        statuses(&sweep.dynamodb_calls)
    );
}

fn functions_section(r: &Results, md: &mut String) {
    let functions = &r.cold_start.functions;
    let _ = writeln!(md, "## Every function\n");
    let (file, anon) = functions.iter().fold((0.0, 0.0), |(file, anon), row| {
        (file + row.rss_file_kb as f64, anon + row.rss_anon_kb as f64)
    });
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
    for row in functions {
        let _ = writeln!(
            md,
            "| {} | {:.1} | {:.1} | {} | {} | {} / {} | {:.1} |",
            row.function,
            row.cold_start_median_ms,
            row.cold_start_max_ms,
            row.idle_rss_kb,
            row.rss_after1000_requests_kb,
            row.rss_file_kb,
            row.rss_anon_kb,
            row.binary_bytes as f64 / 1_048_576.0
        );
    }
}

/// Explains the gap between the drop and the ceiling from the run's own numbers.
pub fn where_the_rest_goes(r: &Results) -> String {
    let accepted = r.drop.orders_accepted;
    format!(
        "Where the rest goes: every drop request also crosses NGINX and a function over loopback HTTP, \
         verifies a JWT and reads the listing's replica (`GetItem`) before the transaction; the {} \
         winners also publish `order.created` to NATS and wait for its acknowledgement, whose handlers \
         (`hold-tickets`, `arm-timer`, `copy-order`) then write to the same DynamoDB Local during the \
         drop. The {} losers after the sell-out are refused by that read, without a transaction, so \
         the drop's request rate is not bounded by the transaction rate alone. DynamoDB Local, NGINX, \
         NATS, the functions and this load generator share {} cores.",
        accepted,
        r.drop.buyers.saturating_sub(accepted),
        r.cores
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page rendered from the committed results is the committed page: the typed report says
    /// what the untyped one said.
    #[test]
    fn the_committed_results_render_the_committed_page() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
        let text = std::fs::read_to_string(dir.join("latest.json")).expect("latest.json");
        let results: Results = serde_json::from_str(&text).expect("typed results");
        let page = std::fs::read_to_string(dir.join("latest.md")).expect("latest.md");
        assert_eq!(markdown(&results), page);
    }

    /// A run with check-ins shows their rate, p50, p99 and how many of the passes answered 200.
    #[test]
    fn check_ins_get_their_own_table_with_rate_percentiles_and_200s() {
        use crate::results::Checkins;

        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
        let text = std::fs::read_to_string(dir.join("latest.json")).expect("latest.json");
        let mut results: Results = serde_json::from_str(&text).expect("typed results");
        let mut latency = results.ceiling.latency;
        (latency.p50_ms, latency.p99_ms) = (21.0, 87.0);
        results.checkins = Some(Checkins {
            passes: 1_000,
            in_flight: 50,
            admitted: 1_000,
            statuses: [("200".to_owned(), 1_000)].into(),
            seconds: 2.5,
            checkins_per_second: 400.0,
            latency,
        });

        let page = markdown(&results);
        assert!(page.contains("## Check-in"), "{page}");
        assert!(
            page.contains("| check-ins per second | 400 (2.50 s in all) |"),
            "{page}"
        );
        assert!(
            page.contains("| latency p50 / p99 | 21 / 87 ms |"),
            "{page}"
        );
        assert!(page.contains("| 200s | 1000 of 1000 |"), "{page}");

        let json = serde_json::to_string(&results).expect("serialises");
        let back: Results = serde_json::from_str(&json).expect("reads back");
        assert!(back.checkins.is_some_and(|c| c.all_admitted()));
    }

    /// A queued drop gets its own section: each goal with whether it is met, the post-sale
    /// fairness said plainly when no post-sale buyer won, and the latencies of each request.
    #[test]
    fn a_queued_drop_gets_its_goals_each_met_or_not() {
        use crate::results::{
            BestSingleOrder, PostSaleFairness, PreSaleOrder, QueuedDrop, Requests,
        };

        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
        let text = std::fs::read_to_string(dir.join("latest.json")).expect("latest.json");
        let mut results: Results = serde_json::from_str(&text).expect("typed results");
        let mut latency = results.ceiling.latency;
        (latency.p50_ms, latency.p99_ms) = (40.0, 900.0);
        let requests = |count: u64, status: &str| Requests {
            count,
            statuses: [(status.to_owned(), count)].into(),
            latency,
        };
        results.queued = Some(QueuedDrop {
            cpu: vec![],
            buyers: 20_000,
            tickets: 2_000,
            in_flight: 1_000,
            on_sale_after_seconds: 60,
            pre_sale_buyers: 10_000,
            post_sale_buyers: 10_000,
            not_joined: 0,
            pre_sale_joins_answered_late: 0,
            orders_accepted: 2_000,
            sold_minus_quantity: 0,
            sold_minus_expected: 0,
            held_in_store_minus_sold: 0,
            server_errors: 3,
            joins: requests(20_000, "202"),
            reads: requests(90_000, "200"),
            orders: requests(2_000, "201"),
            final_states: [
                ("ordered".to_owned(), 2_000),
                ("waiting".to_owned(), 18_000),
            ]
            .into(),
            sold_out_after_on_sale_seconds: Some(14.0),
            selling_seconds: Some(10.0),
            orders_per_second_selling_out: Some(200.0),
            best_single_order: Some(BestSingleOrder {
                orders_per_second: 140.0,
                in_flight: 4,
                measured: "this run".to_owned(),
            }),
            post_sale: PostSaleFairness {
                winners: 0,
                losers: 10_000,
                pairs: 0,
                inversions: 0,
            },
            pre_sale: Some(PreSaleOrder {
                expected: 2_000,
                admitted: 2_000,
                admitted_out_of_turn: 0,
                passed_over: 0,
                comparable_pairs: 1_000_000,
                out_of_order_pairs: 0,
            }),
            seed_matches_hash: true,
            admitted_refused_in_time: 0,
            payments: results.drop.payments.clone(),
        });

        let page = markdown(&results);
        assert!(page.contains("## Queued drop through NGINX"), "{page}");
        assert!(page.contains("| sold − quantity | 0 | yes |"), "{page}");
        assert!(
            page.contains("| 5xx answers (and no answer) | 3 | NO |"),
            "{page}"
        );
        assert!(
            page.contains("no post-sale buyer won (10000 lost)"),
            "{page}"
        );
        assert!(
            page.contains("| pre-sale admissions out of HMAC order | 0 of 1000000 pairs admitted in different seconds | yes |"),
            "{page}"
        );
        assert!(
            page.contains("1.4 × (200 / 140 per s, best at 4 in flight) | NO |"),
            "{page}"
        );
        assert!(
            page.contains("| queue reads (`GET …/queue`) | 90000 requests, p50 40 ms, p99 900 ms"),
            "{page}"
        );

        let json = serde_json::to_string(&results).expect("serialises");
        let back: Results = serde_json::from_str(&json).expect("reads back");
        assert!(back.queued.is_some_and(|q| !q.invariants_hold()));
    }

    /// The drop's processor time is shown per process and per order, with the rate the machine's
    /// cores allow at that cost.
    #[test]
    fn a_drop_s_processor_time_is_shown_per_order_with_the_rate_it_allows() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
        let text = std::fs::read_to_string(dir.join("latest.json")).expect("latest.json");
        let mut results: Results = serde_json::from_str(&text).expect("typed results");
        results.cores = 2;
        results.drop.orders_accepted = 500;
        results.drop.seconds = 10.0;
        results.drop.cpu = vec![
            ProcessCpu {
                process: "dynamodb-local".to_owned(),
                cpu_ms: 6_000.0,
            },
            ProcessCpu {
                process: "place-order".to_owned(),
                cpu_ms: 2_000.0,
            },
        ];
        let page = markdown(&results);
        assert!(
            page.contains("| `dynamodb-local` | 6.0 s | 12.0 ms | 75 % |"),
            "{page}"
        );
        assert!(
            page.contains("| **all** | 8.0 s | 16.0 ms | 100 % |"),
            "{page}"
        );
        assert!(
            page.contains(
                "2 cores sell at most 125 orders/s; the race kept 40 % of the 2 cores busy."
            ),
            "{page}"
        );
    }

    /// The drop's sell-out rate is set against the sweep's best level, not the ceiling at 200 in
    /// flight, and the sweep's rows are on the page with the best one marked.
    #[test]
    fn the_drop_is_compared_with_the_best_level_of_the_sweep() {
        use crate::results::{CeilingLevel, CeilingSweep};

        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
        let text = std::fs::read_to_string(dir.join("latest.json")).expect("latest.json");
        let mut results: Results = serde_json::from_str(&text).expect("typed results");
        let level = |in_flight: usize, orders_per_second: f64| CeilingLevel {
            in_flight,
            held: 100,
            failed: 0,
            seconds: 3.0,
            orders_per_second,
            latency: results.ceiling.latency,
        };
        results.ceiling_sweep = Some(CeilingSweep {
            seconds_per_level: 3.0,
            levels: vec![level(1, 150.0), level(8, 700.0), level(200, 120.0)],
        });
        results.drop.orders_accepted = 500;
        results.drop.sell_out_seconds = Some(0.5);

        let page = markdown(&results);
        assert!(
            page.contains("| drop: orders/s while selling out / best single-order rate | 1.4 × (1000 / 700 per s, best at 8 in flight) | ≥ 2 × | OVER BUDGET |"),
            "{page}"
        );
        assert!(page.contains("| 8 | 700 | 100 | 0 |"), "{page}");
        assert!(page.contains("| best |"), "{page}");
        assert!(!page.contains("≥ 80 %"), "{page}");

        let json = serde_json::to_string(&results).expect("serialises");
        let back: Results = serde_json::from_str(&json).expect("reads back");
        assert_eq!(
            back.ceiling_sweep
                .and_then(|s| s.best().map(|b| b.in_flight)),
            Some(8)
        );
    }
}
