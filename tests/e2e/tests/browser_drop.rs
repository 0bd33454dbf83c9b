//! A ticket drop in headless chromium against the whole stack: tests/browser/drop.mjs lists a drop
//! that goes on sale in about 20 seconds, joins its queue early as a buyer, waits, is let in,
//! orders, pays, and checks the revealed seed; it saves a screenshot of each page.

use e2e::browser::{run_script, screenshots};

#[tokio::test]
async fn a_buyer_who_joins_a_drop_early_is_let_in_at_the_sale_and_orders_and_pays() {
    let artifacts = run_script("drop.mjs", "browser-drop").await;
    let taken = screenshots(&artifacts);
    assert!(taken >= 8, "a screenshot of each page, found {taken}");
}
