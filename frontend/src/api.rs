//! The storefront's only way to the back end: `fetch` against `apiBase`, answers decoded into types,
//! and every failure turned into messages a person can read (the contract's `errors` list, or a
//! sentence of our own when the network or the answer itself is broken).

use serde::Deserialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestCredentials, RequestInit, Response};

pub const NETWORK_DOWN: &str = "Cannot reach the server. Check your connection and try again.";

/// One message for the alert box; `field` names the form field it belongs to, when one does.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Problem {
    pub message: String,
    #[serde(default)]
    pub field: Option<String>,
}

impl Problem {
    /// A message about the request as a whole, not one field.
    pub fn general(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            field: None,
        }
    }
}

/// A request that did not succeed: the status (0 when no answer came) and what to tell the user.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub status: u16,
    pub problems: Vec<Problem>,
    /// A 503's `Retry-After`, in seconds: how long the server asks clients to wait.
    pub retry_after: Option<u32>,
}

impl Failure {
    pub fn message(message: impl Into<String>) -> Self {
        Self {
            status: 0,
            problems: vec![Problem::general(message)],
            retry_after: None,
        }
    }

    /// No answer at all: the request may or may not have reached the server.
    pub fn is_network(&self) -> bool {
        self.status == 0
    }

    /// A refusal (4xx): the contract says it changed nothing, so a new attempt is a new request.
    /// Anything else (no answer, a 5xx such as a 503 while a drop is busy) may have been carried
    /// out: an attempt after it must be the same request again, with the same `Idempotency-Key`.
    pub fn is_refusal(&self) -> bool {
        (400..500).contains(&self.status)
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    errors: Vec<Problem>,
}

/// Reads an error answer; anything that is not the contract's shape still yields a sentence.
pub fn problems_from(status: u16, body: &str) -> Vec<Problem> {
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(parsed) if !parsed.errors.is_empty() => parsed.errors,
        _ => vec![Problem::general(format!(
            "The server sent an unexpected answer (status {status}). Please try again."
        ))],
    }
}

/// A request to the API: method, path under `apiBase`, optional JSON body and extra headers.
pub struct Call<'a> {
    method: &'a str,
    path: String,
    body: Option<serde_json::Value>,
    headers: Vec<(&'a str, String)>,
}

impl<'a> Call<'a> {
    pub fn get(path: impl Into<String>) -> Self {
        Self::new("GET", path)
    }

    /// A POST of one of the contract's request bodies.
    pub fn post(path: impl Into<String>, body: &impl serde::Serialize) -> Self {
        let mut call = Self::new("POST", path);
        // The contract's request types are strings and numbers: they always serialize.
        call.body = Some(serde_json::to_value(body).unwrap_or(serde_json::Value::Null));
        call
    }

    pub fn new(method: &'a str, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            body: None,
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Sends the call and decodes a successful answer's JSON body as `T`.
    pub async fn json<T: DeserializeOwned>(self, api_base: &str) -> Result<Answer<T>, Failure> {
        let reply = self.send(api_base).await?;
        let status = reply.status;
        serde_json::from_str(&reply.text)
            .map(|body| Answer {
                body,
                next: reply.next,
            })
            // A success whose body is not what the route promises is as unexpected as any other.
            .map_err(|_| Failure {
                status,
                problems: problems_from(status, ""),
                retry_after: None,
            })
    }

    /// Sends the call; a 2xx answer gives its status and body text, anything else a [`Failure`].
    pub async fn send(self, api_base: &str) -> Result<Reply, Failure> {
        let reply = self.answer(api_base).await?;
        if (200..300).contains(&reply.status) {
            Ok(reply)
        } else {
            Err(Failure {
                status: reply.status,
                problems: problems_from(reply.status, &reply.text),
                retry_after: reply.retry_after,
            })
        }
    }

    /// Sends the call and gives whatever status and body came back; only a missing answer fails.
    /// For routes whose refusals carry more than messages (a 409 check-in names the earlier one).
    pub async fn answer(self, api_base: &str) -> Result<Reply, Failure> {
        let url = format!("{}{}", api_base.trim_end_matches('/'), self.path);
        let init = RequestInit::new();
        init.set_method(self.method);
        init.set_credentials(RequestCredentials::Include);
        if let Some(body) = &self.body {
            init.set_body(&JsValue::from_str(&body.to_string()));
        }
        let request = Request::new_with_str_and_init(&url, &init)
            .map_err(|_| Failure::message(NETWORK_DOWN))?;
        let headers = request.headers();
        if self.body.is_some() {
            let _ = headers.set("Content-Type", "application/json");
        }
        for (name, value) in &self.headers {
            let _ = headers.set(name, value);
        }

        let window = web_sys::window().ok_or_else(|| Failure::message(NETWORK_DOWN))?;
        let response: Response = JsFuture::from(window.fetch_with_request(&request))
            .await
            .and_then(|value| value.dyn_into())
            .map_err(|_| Failure::message(NETWORK_DOWN))?;
        let status = response.status();
        let next = response
            .headers()
            .get("Link")
            .ok()
            .flatten()
            .and_then(|link| next_cursor(&link));
        // Only the delay-seconds form: the functions and NGINX send nothing else.
        let retry_after = response
            .headers()
            .get("Retry-After")
            .ok()
            .flatten()
            .and_then(|seconds| seconds.trim().parse().ok());
        let text = match response.text() {
            Ok(promise) => JsFuture::from(promise)
                .await
                .ok()
                .and_then(|text| text.as_string())
                .unwrap_or_default(),
            Err(_) => String::new(),
        };
        Ok(Reply {
            status,
            text,
            next,
            retry_after,
        })
    }
}

/// A successful answer's body, and the cursor of the next page when the list goes on.
pub struct Answer<T> {
    pub body: T,
    pub next: Option<String>,
}

pub struct Reply {
    pub status: u16,
    pub text: String,
    pub next: Option<String>,
    pub retry_after: Option<u32>,
}

/// The `after` cursor of a `Link: <…?limit=N&after=C>; rel="next"` header, as sent (still encoded).
pub fn next_cursor(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        if !params.contains("rel=\"next\"") {
            return None;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let (_, query) = target.split_once('?')?;
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("after="))
            .map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contracts_error_list_is_read_with_its_fields() {
        let problems = problems_from(
            400,
            r#"{"errors":[{"message":"Email must be valid","field":"email"},{"message":"Invalid credentials"}]}"#,
        );
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].field.as_deref(), Some("email"));
        assert_eq!(problems[1].message, "Invalid credentials");
    }

    #[test]
    fn only_a_refusal_lets_a_purchase_take_a_new_idempotency_key() {
        let failure = |status| Failure {
            status,
            ..Failure::message("x")
        };
        assert!(failure(409).is_refusal());
        assert!(failure(403).is_refusal());
        // May have been carried out: the retry must be the same request.
        assert!(!failure(0).is_refusal());
        assert!(!failure(503).is_refusal());
        assert!(!failure(500).is_refusal());
    }

    #[test]
    fn the_next_pages_cursor_is_read_from_the_link_header() {
        let link = r#"</api/tickets?limit=100&after=abc%3D%3D>; rel="next""#;
        assert_eq!(next_cursor(link).as_deref(), Some("abc%3D%3D"));
        assert_eq!(next_cursor(r#"</api/tickets?after=x>; rel="prev""#), None);
        assert_eq!(next_cursor("garbage"), None);
    }

    #[test]
    fn a_body_that_is_not_the_contracts_shape_still_gives_a_readable_message() {
        for body in ["<html>Bad Gateway</html>", "", r#"{"errors":[]}"#, "null"] {
            let problems = problems_from(502, body);
            assert_eq!(problems.len(), 1);
            assert!(
                problems[0]
                    .message
                    .contains("unexpected answer (status 502)")
            );
        }
    }
}
