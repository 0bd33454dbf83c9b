//! Where the processor time of a measurement goes: the CPU time (user + system) each process of
//! the local stack used, read from `/proc` before and after. On two cores a drop is bounded by
//! the sum over every process that one order costs, not by any one of them; this shows the sum
//! and its parts.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// CPU time used so far, in clock ticks, by each named process of the stack with its children
/// (NGINX's workers, the JVM under DynamoDB Local's launcher), and by the bench itself.
#[derive(Debug, Clone, Default)]
pub struct Snapshot(BTreeMap<String, u64>);

/// One process's share of a measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessCpu {
    /// devstack's name for it (a function, `nginx`, `dynamodb-local`, …) or `bench` (the client).
    pub process: String,
    pub cpu_ms: f64,
}

/// The processes devstack runs (`RUN_DIR/pids/<name>.pid`) and the bench, as of now.
pub fn snapshot(run_dir: &Path) -> Snapshot {
    let table = processes();
    let mut used = BTreeMap::new();
    if let Ok(pids) = std::fs::read_dir(run_dir.join("pids")) {
        for pid_file in pids.flatten() {
            let path = pid_file.path();
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let Some(pid) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| text.trim().parse::<u32>().ok())
            else {
                continue;
            };
            used.insert(name.to_owned(), tree_ticks(&table, pid));
        }
    }
    used.insert(
        "bench".to_owned(),
        ticks_of(std::process::id()).unwrap_or(0),
    );
    Snapshot(used)
}

/// What each process used between two snapshots, most first; processes that used nothing are left
/// out.
pub fn used_between(before: &Snapshot, after: &Snapshot) -> Vec<ProcessCpu> {
    let tick_ms = 1_000.0 / clock_ticks_per_second();
    let mut used: Vec<ProcessCpu> = after
        .0
        .iter()
        .filter_map(|(name, &ticks)| {
            // A process restarted in between starts again from zero: count what it did since.
            let spent = ticks.saturating_sub(before.0.get(name).copied().unwrap_or(0));
            (spent > 0).then(|| ProcessCpu {
                process: name.clone(),
                cpu_ms: spent as f64 * tick_ms,
            })
        })
        .collect();
    used.sort_by(|a, b| b.cpu_ms.total_cmp(&a.cpu_ms));
    used
}

/// Every process's parent and its own CPU ticks.
fn processes() -> HashMap<u32, (u32, u64)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, stat_of(pid)?)))
        .collect()
}

/// A process's ticks with those of its descendants.
fn tree_ticks(table: &HashMap<u32, (u32, u64)>, root: u32) -> u64 {
    let mut total = 0;
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        if let Some((_, ticks)) = table.get(&pid) {
            total += ticks;
        }
        todo.extend(
            table
                .iter()
                .filter(|(_, (parent, _))| *parent == pid)
                .map(|(&child, _)| child),
        );
    }
    total
}

fn ticks_of(pid: u32) -> Option<u64> {
    stat_of(pid).map(|(_, ticks)| ticks)
}

/// `(parent, utime + stime)` from `/proc/<pid>/stat`. The command name may hold spaces and
/// parentheses, so fields are counted from the last `)`.
fn stat_of(pid: u32) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state (0), ppid (1), … utime (11), stime (12).
    let parent = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((parent, utime + stime))
}

/// `getconf CLK_TCK`; 100 on every Linux this runs on, if it cannot be asked.
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|ticks| *ticks > 0.0)
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_s_own_work_is_counted_and_a_stack_that_is_not_there_adds_nothing() {
        let nowhere = Path::new("/nonexistent");
        let before = snapshot(nowhere);
        let start = ticks_of(std::process::id()).expect("own stat");
        // Work until the kernel has counted 20 ticks of it, however busy the machine is.
        let mut x = 0u64;
        while ticks_of(std::process::id()).expect("own stat") < start + 20 {
            for _ in 0..100_000 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
        let used = used_between(&before, &snapshot(nowhere));
        assert_eq!(used.len(), 1, "{used:?}");
        let twenty_ticks = 20_000.0 / clock_ticks_per_second();
        assert!(
            used[0].process == "bench" && used[0].cpu_ms >= twenty_ticks,
            "{used:?}"
        );
    }
}
