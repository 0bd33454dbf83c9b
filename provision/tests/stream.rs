//! The stream against a real NATS server: created with its limits, and an existing stream made
//! without them brought up to date.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use provision::StreamSpec;

fn spec() -> StreamSpec {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    StreamSpec {
        name: format!("P{tag}"),
        subjects: vec![format!("p{tag}.>")],
        max_age: Duration::from_secs(3600),
        max_bytes: 8 << 20,
        replicas: 1,
    }
}

async fn jetstream(url: &str) -> jetstream::Context {
    jetstream::new(async_nats::connect(url).await.expect("connect"))
}

async fn config_of(jetstream: &jetstream::Context, name: &str) -> stream::Config {
    let mut stream = jetstream.get_stream(name).await.expect("stream exists");
    stream.info().await.expect("info").config.clone()
}

#[tokio::test]
async fn the_stream_is_created_with_its_limits_and_an_older_one_gets_them() {
    let url = shared::testing::dependency("NATS_URL");
    let jetstream = jetstream(&url).await;

    let fresh = spec();
    provision::create_stream(&url, &fresh)
        .await
        .expect("created");
    let config = config_of(&jetstream, &fresh.name).await;
    assert_eq!(config.max_age, Duration::from_secs(3600));
    assert_eq!(config.max_bytes, 8 << 20);
    assert_eq!(config.duplicate_window, Duration::from_secs(120));
    assert_eq!(config.storage, stream::StorageType::File);
    assert_eq!(config.discard, stream::DiscardPolicy::Old);
    // Again: nothing to do, no error.
    provision::create_stream(&url, &fresh)
        .await
        .expect("idempotent");

    // A stream as the provisioning before limits made it: unlimited.
    let older = spec();
    jetstream
        .create_stream(stream::Config {
            name: older.name.clone(),
            subjects: older.subjects.clone(),
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .expect("older stream");
    assert_eq!(config_of(&jetstream, &older.name).await.max_bytes, -1);
    provision::create_stream(&url, &older)
        .await
        .expect("updated");
    let config = config_of(&jetstream, &older.name).await;
    assert_eq!(
        (config.max_age, config.max_bytes, config.duplicate_window),
        (Duration::from_secs(3600), 8 << 20, Duration::from_secs(120))
    );

    for name in [&fresh.name, &older.name] {
        jetstream.delete_stream(name).await.expect("deleted");
    }
}

#[test]
fn by_default_the_stream_keeps_a_week_and_1_gib() {
    let spec = StreamSpec::default();
    assert_eq!(spec.name, "TICKETING");
    assert_eq!(spec.subjects, ["ticketing.>"]);
    let config = spec.config();
    assert_eq!(config.max_age, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(config.max_bytes, 1024 * 1024 * 1024);
    assert_eq!(config.duplicate_window, Duration::from_secs(120));
}
