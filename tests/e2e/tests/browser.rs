//! The storefront in headless chromium against the whole stack: tests/browser/storefront.mjs walks
//! every page a buyer and a seller use, and saves a screenshot of each.

use e2e::browser::{run_script, screenshots};

#[tokio::test]
async fn a_seller_lists_and_a_buyer_buys_and_pays_through_the_storefront_in_a_real_browser() {
    let artifacts = run_script("storefront.mjs", "browser").await;
    let taken = screenshots(&artifacts);
    assert!(taken >= 10, "a screenshot of each page, found {taken}");
}
