//! Sessions: an HS256 JWT carried in the `session` cookie or an `Authorization: Bearer` header.
//!
//! Any token that fails to verify (forged, expired, garbled) is treated as no session at all; it is
//! never an error of the server.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{Env, FromEnv};
use crate::error::ApiError;

const COOKIE_NAME: &str = "session";

/// What a session token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub id: String,
    pub email: String,
    pub iat: i64,
    pub exp: i64,
}

impl Claims {
    /// The claims as `GET /api/users/currentuser` shows them.
    pub fn to_body(&self) -> contract::api::SessionUser {
        contract::api::SessionUser {
            id: contract::UserId::new(self.id.clone()),
            email: self.email.clone(),
            iat: self.iat,
            exp: self.exp,
        }
    }
}

/// Session settings: `JWT_KEY`, `SESSION_TTL_SECONDS`, `COOKIE_SECURE`.
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Keys>,
}

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_seconds: i64,
    cookie_secure: bool,
}

impl FromEnv for Sessions {
    fn from_env(env: &mut Env) -> Self {
        let key = env.required("JWT_KEY");
        let ttl_seconds: i64 = env.parsed_or("SESSION_TTL_SECONDS", 86_400);
        if ttl_seconds <= 0 {
            env.invalid(
                "SESSION_TTL_SECONDS",
                "must be a positive number of seconds",
            );
        }
        let cookie_secure = env.parsed_or("COOKIE_SECURE", true);
        Self::new(key.as_bytes(), ttl_seconds, cookie_secure)
    }
}

impl Sessions {
    pub fn new(key: &[u8], ttl_seconds: i64, cookie_secure: bool) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp"]);
        Self {
            inner: Arc::new(Keys {
                encoding: EncodingKey::from_secret(key),
                decoding: DecodingKey::from_secret(key),
                validation,
                ttl_seconds,
                cookie_secure,
            }),
        }
    }

    pub fn ttl_seconds(&self) -> i64 {
        self.inner.ttl_seconds
    }

    /// Claims for a user signing in now.
    pub fn claims_for(&self, id: &str, email: &str) -> Claims {
        let iat = crate::time::unix_now();
        Claims {
            id: id.to_owned(),
            email: email.to_owned(),
            iat,
            exp: iat + self.inner.ttl_seconds,
        }
    }

    pub fn issue(&self, claims: &Claims) -> Result<String, ApiError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.inner.encoding)
            .map_err(ApiError::internal)
    }

    /// The claims of a token that verifies, else `None`.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.inner.decoding, &self.inner.validation)
            .ok()
            .map(|data| data.claims)
    }

    /// `Set-Cookie` that starts a session.
    pub fn cookie(&self, token: &str) -> Result<HeaderValue, ApiError> {
        let secure = if self.inner.cookie_secure {
            "; Secure"
        } else {
            ""
        };
        let value = format!(
            "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            self.inner.ttl_seconds
        );
        HeaderValue::from_str(&value).map_err(ApiError::internal)
    }

    /// `Set-Cookie` that ends a session.
    pub fn clearing_cookie(&self) -> HeaderValue {
        if self.inner.cookie_secure {
            HeaderValue::from_static("session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure")
        } else {
            HeaderValue::from_static("session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")
        }
    }

    /// The session a request carries: a Bearer token if there is one, else the cookie.
    pub fn from_headers(&self, headers: &HeaderMap) -> Option<Claims> {
        bearer_token(headers)
            .or_else(|| session_cookie(headers))
            .and_then(|token| self.verify(token))
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE_NAME && !value.is_empty())
        .map(|(_, value)| value)
}

/// The signed-in user; rejects with 401 `Not authorized` when there is no valid session.
///
/// Use `Option<SignedIn>` for routes where a session is optional.
#[derive(Debug, Clone)]
pub struct SignedIn(pub Claims);

impl<S> FromRequestParts<S> for SignedIn
where
    S: Send + Sync,
    Sessions: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Sessions::from_ref(state)
            .from_headers(&parts.headers)
            .map(SignedIn)
            .ok_or(ApiError::Unauthorized)
    }
}

impl<S> OptionalFromRequestParts<S> for SignedIn
where
    S: Send + Sync,
    Sessions: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(Sessions::from_ref(state)
            .from_headers(&parts.headers)
            .map(SignedIn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(b"test-key", 3600, false)
    }

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).expect("header value"));
        headers
    }

    #[test]
    fn a_token_issued_here_verifies_from_cookie_and_bearer() {
        let sessions = sessions();
        let claims = sessions.claims_for("u1", "a@b.co");
        let token = sessions.issue(&claims).expect("token");
        let cookie = headers(header::COOKIE, &format!("theme=dark; session={token}"));
        assert_eq!(sessions.from_headers(&cookie), Some(claims.clone()));
        let bearer = headers(header::AUTHORIZATION, &format!("Bearer {token}"));
        assert_eq!(sessions.from_headers(&bearer), Some(claims));
    }

    #[test]
    fn a_token_signed_with_another_key_is_no_session() {
        let other = Sessions::new(b"other-key", 3600, false);
        let token = other
            .issue(&other.claims_for("u1", "a@b.co"))
            .expect("token");
        assert_eq!(sessions().verify(&token), None);
    }

    #[test]
    fn an_expired_token_is_no_session() {
        let sessions = sessions();
        let mut claims = sessions.claims_for("u1", "a@b.co");
        claims.iat -= 7200;
        claims.exp -= 7200;
        let token = sessions.issue(&claims).expect("token");
        assert_eq!(sessions.verify(&token), None);
    }

    #[test]
    fn garbage_is_no_session() {
        assert_eq!(sessions().verify("not.a.jwt"), None);
        assert_eq!(sessions().verify(""), None);
    }

    #[test]
    fn the_unsigned_none_algorithm_is_refused() {
        // {"alg":"none"} with valid-looking claims and no signature.
        let forged = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpZCI6InUxIiwiZW1haWwiOiJhQGIuY28iLCJpYXQiOjEsImV4cCI6OTk5OTk5OTk5OX0.";
        assert_eq!(sessions().verify(forged), None);
    }

    #[test]
    fn the_session_cookie_has_the_contract_attributes() {
        let cookie = sessions().cookie("abc").expect("cookie");
        assert_eq!(
            cookie,
            "session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600"
        );
        let secure = Sessions::new(b"k", 60, true).cookie("abc").expect("cookie");
        assert!(secure.to_str().expect("ascii").ends_with("; Secure"));
    }
}
