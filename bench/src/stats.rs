//! Medians and latency histograms.

use hdrhistogram::Histogram;

use crate::results::Latency;

pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// Latencies in microseconds, from 1 µs to 10 minutes, 3 significant figures.
pub fn latencies() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant bounds are valid")
}

pub fn record(histogram: &mut Histogram<u64>, elapsed: std::time::Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.max(1));
}

/// HTTP answers by status ("no answer" for none) and their latencies.
pub fn answers(
    outcomes: impl IntoIterator<Item = (Option<u16>, std::time::Duration)>,
) -> (std::collections::BTreeMap<String, u64>, Histogram<u64>) {
    let mut statuses = std::collections::BTreeMap::new();
    let mut histogram = latencies();
    for (status, elapsed) in outcomes {
        record(&mut histogram, elapsed);
        let key = status.map_or("no answer".to_owned(), |s| s.to_string());
        *statuses.entry(key).or_default() += 1;
    }
    (statuses, histogram)
}

/// p50, p95, p99 and max in milliseconds.
pub fn percentiles(histogram: &Histogram<u64>) -> Latency {
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    Latency {
        p50_ms: ms(0.50),
        p95_ms: ms(0.95),
        p99_ms: ms(0.99),
        max_ms: histogram.max() as f64 / 1000.0,
    }
}
