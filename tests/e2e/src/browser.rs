//! The browser tests' runner: a script of `tests/browser/` in headless chromium (node and
//! playwright-core) against the whole stack, its screenshots kept for a look.

use std::path::PathBuf;
use std::process::Stdio;

use crate::Stack;

/// Runs `tests/browser/<script>` against a new stack, with its screenshots in
/// `tests/artifacts/<artifacts>` (emptied first: each script has a folder of its own, whose files
/// the test may count); panics unless the script and the stack's stop succeed. Returns the
/// screenshots' folder.
pub async fn run_script(script: &str, artifacts: &str) -> PathBuf {
    let project = std::fs::canonicalize(crate::project_dir()).expect("the project folder");
    assert!(
        project.join("frontend/dist/index.html").exists(),
        "the storefront is not built: run scripts/build-storefront.sh (make test does)"
    );
    let stack = Stack::start(&[]).await;
    let artifacts = project.join("tests/artifacts").join(artifacts);
    let _ = std::fs::remove_dir_all(&artifacts);
    println!("{script} screenshots: {}", artifacts.display());

    let status = tokio::process::Command::new("node")
        .arg(project.join("tests/browser").join(script))
        .current_dir(&project)
        .env("BASE_URL", stack.url(""))
        .env("ARTIFACTS", &artifacts)
        .stdin(Stdio::null())
        .status()
        .await
        .expect("node runs");
    let stopped = stack.stop().await;

    assert!(
        status.success(),
        "the browser test {script} failed (its output is above)"
    );
    assert!(stopped, "the stack stopped cleanly");
    artifacts
}

/// How many files (screenshots) `folder` holds: none if it is missing.
pub fn screenshots(folder: &std::path::Path) -> usize {
    std::fs::read_dir(folder)
        .map(|entries| entries.filter_map(Result::ok).count())
        .unwrap_or(0)
}
