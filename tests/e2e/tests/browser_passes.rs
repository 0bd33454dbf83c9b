//! E-tickets in headless chromium against the whole stack: tests/browser/passes.mjs buys two
//! tickets, reads the pass's QR code back out of a screenshot with zbarimg, and checks the code in on
//! the seller's check-in page ("Welcome", then "Already checked in at HH:MM"); then the other ticket
//! is resold and bought, its old code is "Pass revoked" and the new buyer's is welcome.

use std::process::Stdio;

use e2e::Stack;

#[tokio::test]
async fn a_screenshot_s_qr_code_checks_in_once_and_a_resold_pass_s_old_code_is_refused() {
    let project = std::fs::canonicalize(e2e::project_dir()).expect("the project folder");
    assert!(
        project.join("frontend/dist/index.html").exists(),
        "the storefront is not built: run scripts/build-storefront.sh (make test does)"
    );
    let zbarimg = std::process::Command::new("zbarimg")
        .arg("--version")
        .stdout(Stdio::null())
        .status();
    assert!(
        zbarimg.is_ok_and(|status| status.success()),
        "zbarimg reads the QR code: install zbar-tools (scripts/setup.sh does)"
    );
    let stack = Stack::start(&[]).await;
    let artifacts = project.join("tests/artifacts/browser-passes");
    let _ = std::fs::remove_dir_all(&artifacts);
    println!("browser test screenshots: {}", artifacts.display());

    let status = tokio::process::Command::new("node")
        .arg(project.join("tests/browser/passes.mjs"))
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
    assert!(
        artifacts.join("qr-code.png").exists(),
        "the screenshot of the QR code is kept for a look"
    );
}
