//! The storefront in headless chromium against the whole stack: tests/browser/storefront.mjs walks
//! every page a buyer and a seller use, and saves a screenshot of each.

use std::process::Stdio;

use e2e::Stack;

#[tokio::test]
async fn a_seller_lists_and_a_buyer_buys_and_pays_through_the_storefront_in_a_real_browser() {
    let project = std::fs::canonicalize(e2e::project_dir()).expect("the project folder");
    assert!(
        project.join("frontend/dist/index.html").exists(),
        "the storefront is not built: run scripts/build-storefront.sh (make test does)"
    );
    let stack = Stack::start(&[]).await;
    let artifacts = project.join("tests/artifacts/browser");
    let _ = std::fs::remove_dir_all(&artifacts);
    println!("browser test screenshots: {}", artifacts.display());

    let status = tokio::process::Command::new("node")
        .arg(project.join("tests/browser/storefront.mjs"))
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
        "the browser test failed (its output is above)"
    );
    assert!(stopped, "the stack stopped cleanly");
    let screenshots = std::fs::read_dir(&artifacts)
        .map(|entries| entries.filter_map(Result::ok).count())
        .unwrap_or(0);
    assert!(
        screenshots >= 10,
        "a screenshot of each page, found {screenshots}"
    );
}
