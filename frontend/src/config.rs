//! `/config.json`, written at deploy time, so one build runs against any back end.

use std::sync::OnceLock;

use crate::api::{Call, Failure};

/// `/config.json` as the contract defines it.
pub type Config = contract::api::StorefrontConfig;

static INSTALLED: OnceLock<Config> = OnceLock::new();

/// Keeps the configuration for the page's lifetime; components get it by context.
pub fn install(config: Config) -> &'static Config {
    INSTALLED.get_or_init(|| config)
}

/// Fetched beside `index.html`, whatever `apiBase` says: the file belongs to the static site.
pub async fn load() -> Result<Config, Failure> {
    Call::get("/config.json")
        .json::<Config>("")
        .await
        .map(|answer| answer.body)
}
