//! E-tickets in headless chromium against the whole stack: tests/browser/passes.mjs buys two
//! tickets, reads the pass's QR code back out of a screenshot with zbarimg, and checks the code in on
//! the seller's check-in page ("Welcome", then "Already checked in at HH:MM"); then the other ticket
//! is resold and bought, its old code is "Pass revoked" and the new buyer's is welcome.

use std::process::Stdio;

use e2e::browser::run_script;

#[tokio::test]
async fn a_screenshot_s_qr_code_checks_in_once_and_a_resold_pass_s_old_code_is_refused() {
    let zbarimg = std::process::Command::new("zbarimg")
        .arg("--version")
        .stdout(Stdio::null())
        .status();
    assert!(
        zbarimg.is_ok_and(|status| status.success()),
        "zbarimg reads the QR code: install zbar-tools (scripts/setup.sh does)"
    );
    let artifacts = run_script("passes.mjs", "browser-passes").await;
    assert!(
        artifacts.join("qr-code.png").exists(),
        "the screenshot of the QR code is kept for a look"
    );
}
