//! Publishing events to NATS JetStream.
//!
//! The connection is made in the background, so a function starts without waiting for NATS; a
//! publish while NATS is unreachable fails within a second instead of hanging the request, and the
//! outbox relay delivers the event later. Each message carries `Nats-Msg-Id: <event id>`, so a
//! republished event is dropped by JetStream's duplicate window.

use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::{self, message::PublishMessage};

use crate::config::{Env, FromEnv, NatsServers};
use crate::events::CloudEvent;

/// How long a publish may wait for JetStream's acknowledgement.
const ACK_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a first publish waits for the background connection to come up.
const FIRST_CONNECT_WAIT: Duration = Duration::from_millis(750);
/// How long a publish may take in all: the first connection, handing the message to the client
/// (which waits when its queue to a stalled server is full), and the acknowledgement.
const PUBLISH_DEADLINE: Duration = Duration::from_secs(2);

/// `NATS_URL` and `EVENT_SUBJECT_PREFIX` (empty in production; tests use their own prefix and
/// stream so that they never see one another's events).
#[derive(Debug, Clone)]
pub struct NatsSettings {
    pub url: String,
    pub subject_prefix: String,
}

impl FromEnv for NatsSettings {
    fn from_env(env: &mut Env) -> Self {
        let url = env.string_or("NATS_URL", "nats://127.0.0.1:4222");
        if let Err(err) = async_nats::ToServerAddrs::to_server_addrs(&NatsServers(&url)) {
            env.invalid("NATS_URL", err);
        }
        Self {
            url,
            subject_prefix: env.string_or("EVENT_SUBJECT_PREFIX", ""),
        }
    }
}

impl NatsSettings {
    /// The subject an event type is published on.
    pub fn subject(&self, kind: &str) -> String {
        format!("{}{kind}", self.subject_prefix)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("NATS is not connected")]
    NotConnected,
    #[error("JetStream did not acknowledge: {0}")]
    NotAcknowledged(String),
}

#[derive(Clone)]
pub struct Publisher {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    settings: NatsSettings,
}

impl Publisher {
    /// Starts connecting in the background and returns at once.
    pub async fn connect(settings: NatsSettings) -> Result<Self, async_nats::ConnectError> {
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connect(NatsServers(&settings.url))
            .await?;
        let mut jetstream = jetstream::new(client.clone());
        jetstream.set_timeout(ACK_TIMEOUT);
        Ok(Self {
            client,
            jetstream,
            settings,
        })
    }

    pub fn settings(&self) -> &NatsSettings {
        &self.settings
    }

    /// Publishes one event and waits for JetStream to store it, for at most [`PUBLISH_DEADLINE`].
    pub async fn publish(&self, event: &CloudEvent) -> Result<(), PublishError> {
        tokio::time::timeout(PUBLISH_DEADLINE, self.publish_and_wait(event))
            .await
            .map_err(|_| PublishError::NotAcknowledged("timed out".to_owned()))?
    }

    async fn publish_and_wait(&self, event: &CloudEvent) -> Result<(), PublishError> {
        self.wait_for_first_connection().await?;
        let payload = event
            .to_json()
            .map_err(|e| PublishError::NotAcknowledged(e.to_string()))?;
        let message = PublishMessage::build()
            .payload(payload.into())
            .message_id(&event.id)
            .header("Content-Type", crate::events::STRUCTURED_CONTENT_TYPE);
        let ack = self
            .jetstream
            .send_publish(self.settings.subject(&event.kind), message)
            .await
            .map_err(|e| PublishError::NotAcknowledged(e.to_string()))?;
        tokio::time::timeout(ACK_TIMEOUT, ack)
            .await
            .map_err(|_| PublishError::NotAcknowledged("timed out".to_owned()))?
            .map_err(|e| PublishError::NotAcknowledged(e.to_string()))?;
        Ok(())
    }

    /// A process that has just started has not connected yet; give it a moment rather than sending
    /// every first event through the relay. A connection that was lost fails at once.
    async fn wait_for_first_connection(&self) -> Result<(), PublishError> {
        let deadline = tokio::time::Instant::now() + FIRST_CONNECT_WAIT;
        loop {
            match self.client.connection_state() {
                State::Connected => return Ok(()),
                State::Disconnected => return Err(PublishError::NotConnected),
                State::Pending if tokio::time::Instant::now() >= deadline => {
                    return Err(PublishError::NotConnected);
                }
                State::Pending => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }
}
