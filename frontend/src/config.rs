//! `/config.json`, written at deploy time, so one build runs against any back end.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::api::{Call, Failure};

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub api_base: String,
    pub stripe_publishable_key: String,
    pub stripe_js_url: String,
}

static INSTALLED: OnceLock<Config> = OnceLock::new();

impl Config {
    /// Keeps the configuration for the page's lifetime; components get it by context.
    pub fn install(self) -> &'static Self {
        INSTALLED.get_or_init(|| self)
    }

    /// Fetched beside `index.html`, whatever `apiBase` says: the file belongs to the static site.
    pub async fn load() -> Result<Self, Failure> {
        Call::get("/config.json")
            .json::<Self>("")
            .await
            .map(|answer| answer.body)
    }
}
