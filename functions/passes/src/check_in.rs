//! `POST /api/checkins` `{code, nonce?}`: the organiser admits a pass, once; and
//! `GET /api/passes/keys`, the public keys a scanner verifies codes with offline.
//!
//! Order of checks: the session (401), the code's signature and the nonce's shape (400, before any
//! lookup: a forged code costs no DynamoDB read), the pass (404), the organiser (403), then the
//! pass's state. The winning scan is the one whose conditional write moves the pass valid →
//! checked-in ([`Passes::check_in`](crate::store::Passes::check_in)); every other, however many
//! at once, is refused by that condition and answered 409 with the time of the winner.
//!
//! Scans of one pass are taken one at a time per instance ([`ScanGates`]): the first decides with
//! its write, the others then read the pass checked in and answer 409 without a write. That is only
//! about speed (DynamoDB Local runs one item's transactions one at a time, and fifty colliding ones
//! outlast the client's deadline on a busy machine); across instances the condition still decides.
//!
//! A nonce makes a retried scan replay its first answer: the 200 is stored under the nonce in the
//! winner's transaction. Only the 200 needs storing: checked-in and revoked are final, so a
//! refusal answered again is the same refusal.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use contract::UserId;
use contract::api::ErrorEntry;
use contract::passes::{
    ALREADY_CHECKED_IN, AlreadyCheckedInBody, CheckedInBody, INVALID_CODE, KeysBody, NONCE_RANGE,
    PASS_REVOKED, PassCheckedInData, PassId, PassStatus, types as pass_types,
};
use shared::error::{ApiError, error_response};
use shared::events::CloudEvent;
use shared::json::JsonBody;
use shared::session::SignedIn;
use shared::validation::Validator;

use crate::CheckinState;
use crate::codes::PublicKeys;
use crate::store::{CheckIn, ListingCopy, PassItem, StoredAnswer};

const FUNCTION: &str = "check-in";
/// The longest nonce, in characters.
pub const NONCE_CHARS: usize = 128;

pub fn router(state: CheckinState) -> Router {
    Router::new()
        .route("/api/checkins", post(check_in))
        .route("/api/passes/keys", get(keys))
        .with_state(state)
}

/// One queue per stripe of pass ids: scans of one pass take turns within an instance.
pub struct ScanGates {
    stripes: Vec<tokio::sync::Mutex<()>>,
}

/// Passes map onto this many queues by hash; two passes scanned at once rarely share one, and if
/// they do, one waits a few milliseconds.
const STRIPES: usize = 64;

impl Default for ScanGates {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }
}

impl ScanGates {
    async fn enter(&self, pass: &PassId) -> tokio::sync::MutexGuard<'_, ()> {
        let hash = pass.as_str().bytes().fold(0usize, |hash, byte| {
            hash.wrapping_mul(31).wrapping_add(usize::from(byte))
        });
        self.stripes[hash % STRIPES].lock().await
    }
}

async fn keys(State(state): State<CheckinState>) -> Json<KeysBody> {
    Json(state.keys.body())
}

/// A check-in request, parsed: the pass its code names (signature verified) and the nonce.
struct Scan {
    pass: PassId,
    nonce: Option<String>,
}

impl Scan {
    fn parse(body: &JsonBody, keys: &PublicKeys) -> Result<Self, ApiError> {
        let mut validator = Validator::new();
        let pass = validator.check(
            "code",
            body.str("code")
                .and_then(|code| keys.verify(code))
                .ok_or(INVALID_CODE),
        );
        let nonce = validator.check("nonce", nonce(body));
        validator.finish(|| {
            Some(Self {
                pass: PassId::new(pass?.hyphenated().to_string()),
                nonce: nonce?,
            })
        })
    }
}

fn nonce(body: &JsonBody) -> Result<Option<String>, &'static str> {
    match body.get("nonce") {
        None => Ok(None),
        Some(value) => value
            .as_str()
            .filter(|n| !n.is_empty() && n.chars().count() <= NONCE_CHARS)
            .map(|n| Some(n.to_owned()))
            .ok_or(NONCE_RANGE),
    }
}

async fn check_in(
    State(state): State<CheckinState>,
    SignedIn(user): SignedIn,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let scan = Scan::parse(&body, &state.keys)?;
    let _turn = state.gates.enter(&scan.pass).await;
    let pass = state
        .passes
        .pass(scan.pass.as_str())
        .await?
        .ok_or(ApiError::NotFound)?;
    if pass.organiser_id != user.id {
        return Err(ApiError::Forbidden);
    }
    let listing = state
        .passes
        .listing(pass.ticket_id.as_str())
        .await?
        .ok_or_else(|| ApiError::internal(format!("pass {} without its listing", pass.id)))?;
    if pass.status != PassStatus::Valid {
        // Most scans after the first end here, without a write. A retry of the winning scan
        // finds its answer under its nonce.
        if let Some(nonce) = &scan.nonce
            && let Some(answer) = state.passes.answer(&pass.id, nonce).await?
        {
            return replay(&answer);
        }
        return refusal(&pass, &listing);
    }
    admit(
        &state,
        pass,
        &listing,
        &UserId::new(user.id),
        scan.nonce.as_deref(),
    )
    .await
}

/// The conditional write that decides between simultaneous scans.
async fn admit(
    state: &CheckinState,
    pass: PassItem,
    listing: &ListingCopy,
    by: &UserId,
    nonce: Option<&str>,
) -> Result<Response, ApiError> {
    let at = shared::time::rfc3339(shared::time::now());
    let mut admitted = pass.clone();
    admitted.status = PassStatus::CheckedIn;
    admitted.checked_in_at = Some(at.clone());
    let body = CheckedInBody {
        pass: admitted.body(listing),
        checked_in_at: at.clone(),
    };
    let json = serde_json::to_string(&body).map_err(ApiError::internal)?;
    let event = CloudEvent::of(
        FUNCTION,
        pass_types::PASS_CHECKED_IN,
        pass.id.as_str(),
        &PassCheckedInData {
            id: pass.id.clone(),
            order_id: pass.order_id.clone(),
            ticket_id: pass.ticket_id.clone(),
            checked_in_at: at.clone(),
        },
    )?;
    let record = state.outbox.record(&event)?;
    let answer = nonce.map(|nonce| (nonce, StatusCode::OK.as_u16(), json));
    match state
        .passes
        .check_in(&pass, &at, by, answer, record)
        .await?
    {
        CheckIn::CheckedIn => {
            tracing::info!(pass = %pass.id, "checked in");
            state.outbox.publish(&[event]).await;
            Ok((StatusCode::OK, Json(body)).into_response())
        }
        CheckIn::Replay(answer) => replay(&answer),
        CheckIn::NotValid(now) => refusal(&now, listing),
        CheckIn::Missing => Err(ApiError::NotFound),
    }
}

/// The answer to a scan of a pass that is no longer valid.
fn refusal(pass: &PassItem, listing: &ListingCopy) -> Result<Response, ApiError> {
    match (pass.status, &pass.checked_in_at) {
        (PassStatus::CheckedIn, Some(at)) => {
            let body = AlreadyCheckedInBody {
                errors: vec![ErrorEntry {
                    message: ALREADY_CHECKED_IN.to_owned(),
                    field: None,
                }],
                pass: pass.body(listing),
                checked_in_at: at.clone(),
            };
            Ok((StatusCode::CONFLICT, Json(body)).into_response())
        }
        (PassStatus::Revoked, _) => Ok(error_response(StatusCode::GONE, PASS_REVOKED)),
        (status, _) => Err(ApiError::internal(format!(
            "pass {} refused a check-in while {}",
            pass.id,
            status.as_str()
        ))),
    }
}

/// The stored answer of an earlier scan with the same nonce, as it was sent.
fn replay(answer: &StoredAnswer) -> Result<Response, ApiError> {
    let status = StatusCode::from_u16(answer.status).map_err(ApiError::internal)?;
    let mut response = (status, answer.body.clone()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
