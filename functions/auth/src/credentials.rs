//! Parsing what a user types: email addresses and passwords.

use std::fmt;

use shared::error::ApiError;
use shared::json::JsonBody;
use shared::validation::Validator;

pub const EMAIL_INVALID: &str = "Email must be valid";
pub const PASSWORD_LENGTH: &str = "Password must be between 8 and 128 characters";
pub const PASSWORD_MISSING: &str = "You must supply a password";

/// A valid email address, trimmed and lower-cased: the form that is stored, compared and returned,
/// so that uniqueness and sign-in ignore letter case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim().to_lowercase();
        if email.chars().count() > 254 || !is_address(&email) {
            return Err(EMAIL_INVALID);
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `local@domain` with a dotted domain of sensible labels. Quoted local parts and IP-literal domains
/// are legal in RFC 5321 but not accepted by a ticket shop.
fn is_address(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = (1..=64).contains(&local.chars().count())
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.chars().count())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
    local_ok && domain_ok
}

/// A password as sign-up accepts it: 8 to 128 characters.
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if (8..=128).contains(&raw.chars().count()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(PASSWORD_LENGTH)
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// `{email, password}` as sign-up takes it.
pub struct SignUpRequest {
    pub email: Email,
    pub password: NewPassword,
}

impl TryFrom<JsonBody> for SignUpRequest {
    type Error = ApiError;

    fn try_from(body: JsonBody) -> Result<Self, ApiError> {
        let mut v = Validator::new();
        let email = v.check(
            "email",
            body.str("email")
                .ok_or(EMAIL_INVALID)
                .and_then(Email::parse),
        );
        let password = v.check(
            "password",
            body.str("password")
                .ok_or(PASSWORD_LENGTH)
                .and_then(NewPassword::parse),
        );
        v.finish(|| {
            Some(Self {
                email: email?,
                password: password?,
            })
        })
    }
}

/// `{email, password}` as sign-in takes it: any non-empty password may be tried.
pub struct SignInRequest {
    pub email: Email,
    pub password: String,
}

impl TryFrom<JsonBody> for SignInRequest {
    type Error = ApiError;

    fn try_from(body: JsonBody) -> Result<Self, ApiError> {
        let mut v = Validator::new();
        let email = v.check(
            "email",
            body.str("email")
                .ok_or(EMAIL_INVALID)
                .and_then(Email::parse),
        );
        let password = v.check(
            "password",
            body.str("password")
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .ok_or(PASSWORD_MISSING),
        );
        v.finish(|| {
            Some(Self {
                email: email?,
                password: password?,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let email = Email::parse("  Ada@Example.COM ").expect("valid");
        assert_eq!(email.as_str(), "ada@example.com");
    }

    #[test]
    fn ordinary_addresses_are_valid() {
        for ok in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "o'neil@x-y.io",
            "jürgen@bücher.de",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok} should be valid");
        }
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "",
            " ",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@@b.co",
            "a@b@c.co",
            "a b@c.co",
            ".a@b.co",
            "a.@b.co",
            "a..b@c.co",
            "a@-b.co",
            "a@b-.co",
            "a@b..co",
            "a@1.2.3.4",
            "a\n@b.co",
            "a@b.c o",
        ] {
            assert_eq!(
                Email::parse(bad),
                Err(EMAIL_INVALID),
                "{bad:?} should be invalid"
            );
        }
    }

    #[test]
    fn an_address_over_254_characters_is_refused() {
        let long = format!(
            "{}@{}.com",
            "a".repeat(64),
            "b".repeat(63) + "." + &"c".repeat(63) + "." + &"d".repeat(63)
        );
        assert!(long.chars().count() > 254);
        assert_eq!(Email::parse(&long), Err(EMAIL_INVALID));
    }

    #[test]
    fn password_length_counts_characters_not_bytes() {
        assert!(NewPassword::parse("ééééééé").is_err(), "7 characters");
        assert!(
            NewPassword::parse("éééééééé").is_ok(),
            "8 characters, 16 bytes"
        );
        assert!(NewPassword::parse(&"x".repeat(128)).is_ok());
        assert!(NewPassword::parse(&"x".repeat(129)).is_err());
    }
}
