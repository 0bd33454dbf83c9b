//! A ticket drop in headless chromium against the whole stack: tests/browser/drop.mjs lists a drop
//! that goes on sale in about 20 seconds, joins its queue early as a buyer, waits, is let in,
//! orders, pays, and checks the revealed seed; it saves a screenshot of each page.

use std::process::Stdio;

use e2e::Stack;

#[tokio::test]
async fn a_buyer_who_joins_a_drop_early_is_let_in_at_the_sale_and_orders_and_pays() {
    let project = std::fs::canonicalize(e2e::project_dir()).expect("the project folder");
    assert!(
        project.join("frontend/dist/index.html").exists(),
        "the storefront is not built: run scripts/build-storefront.sh (make test does)"
    );
    let stack = Stack::start(&[]).await;
    // Its own folder: the storefront test clears and counts tests/artifacts/browser.
    let artifacts = project.join("tests/artifacts/browser-drop");
    let _ = std::fs::remove_dir_all(&artifacts);
    println!("browser drop test screenshots: {}", artifacts.display());

    let status = tokio::process::Command::new("node")
        .arg(project.join("tests/browser/drop.mjs"))
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
        "the browser drop test failed (its output is above)"
    );
    assert!(stopped, "the stack stopped cleanly");
    let screenshots = std::fs::read_dir(&artifacts)
        .map(|entries| entries.filter_map(Result::ok).count())
        .unwrap_or(0);
    assert!(
        screenshots >= 8,
        "a screenshot of each page, found {screenshots}"
    );
}
