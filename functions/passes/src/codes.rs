//! Pass codes: what a QR code holds, signed so that a scanner tells a forged code without asking
//! anyone.
//!
//! A code is `<kid>:<base32 of the pass id's 16 bytes and the 64-byte Ed25519 signature>`, e.g.
//! `LOCAL-1:AGJ2…` (at most 16 + 1 + 128 characters). Every character is in the QR code's
//! alphanumeric set (upper-case letters, digits, `-`, `:`), which packs 5.5 bits a character
//! instead of byte mode's 8, so the QR code stays small; a code typed in lower case reads the same.
//! The signature covers the key id and the pass id, under a label of its own, so a signature made
//! for anything else never verifies as a pass.
//!
//! Ed25519 comes from `ring`, which every function already links through async-nats' rustls: it
//! adds no crate to the build. Signing is deterministic, so issuing a pass again (an event
//! delivered twice) writes the very same code.
//!
//! Keys rotate by id: `PASS_SIGNING_KEY` and `PASS_KEY_ID` (read only by `issue-passes`, the one
//! function that signs) name the current key; `PASS_PUBLIC_KEYS` lists every key still accepted,
//! the current one and those that signed passes still in use. `check-in` accepts any of them and
//! `GET /api/passes/keys` publishes them.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use contract::passes::{KeysBody, PublicKeyBody};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use shared::config::{Env, FromEnv};

/// The longest key id: a code is at most 16 + 1 + 128 = 145 characters, within the contract's 200.
pub const MAX_KID_CHARS: usize = 16;
/// The longest code the contract allows; anything longer is refused before it is decoded.
pub const MAX_CODE_CHARS: usize = 200;

const SIGNATURE_LABEL: &[u8] = b"ticketing-pass/v1\n";
const SEED_BYTES: usize = 32;
const ID_BYTES: usize = 16;
const SIGNATURE_BYTES: usize = 64;

/// A key id as a code carries it: 1 to 16 of `A`–`Z`, `0`–`9`, `-`.
pub fn valid_kid(kid: &str) -> bool {
    (1..=MAX_KID_CHARS).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

fn signed_message(kid: &str, pass: &uuid::Uuid) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNATURE_LABEL.len() + kid.len() + 1 + ID_BYTES);
    message.extend_from_slice(SIGNATURE_LABEL);
    message.extend_from_slice(kid.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(pass.as_bytes());
    message
}

/// The current signing key. Its secret half never leaves this process.
#[derive(Clone)]
pub struct Signer {
    kid: String,
    pair: Arc<Ed25519KeyPair>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).finish()
    }
}

impl Signer {
    /// A key from its 32-byte seed (what RFC 8032 calls the private key).
    pub fn from_seed(kid: &str, seed: &[u8]) -> Result<Self, String> {
        if !valid_kid(kid) {
            return Err(format!(
                "the key id must be 1 to {MAX_KID_CHARS} of A-Z, 0-9 and -"
            ));
        }
        if seed.len() != SEED_BYTES {
            return Err(format!(
                "the seed must be {SEED_BYTES} bytes, not {}",
                seed.len()
            ));
        }
        let pair = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|err| format!("not an Ed25519 seed: {err}"))?;
        Ok(Self {
            kid: kid.to_owned(),
            pair: Arc::new(pair),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half, base64url, as `PASS_PUBLIC_KEYS` and the keys endpoint write it.
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref())
    }

    /// The code of a pass.
    pub fn code(&self, pass: &uuid::Uuid) -> String {
        let signature = self.pair.sign(&signed_message(&self.kid, pass));
        let mut payload = Vec::with_capacity(ID_BYTES + SIGNATURE_BYTES);
        payload.extend_from_slice(pass.as_bytes());
        payload.extend_from_slice(signature.as_ref());
        format!("{}:{}", self.kid, base32::encode(&payload))
    }
}

/// `PASS_SIGNING_KEY` (base64url of the 32-byte Ed25519 seed; a secret) and `PASS_KEY_ID`: the
/// key, or `None` when they are missing or invalid (the problem is recorded, so the function
/// refuses to start before it is ever used).
#[derive(Debug, Clone)]
pub struct SigningKey(pub Option<Signer>);

impl FromEnv for SigningKey {
    fn from_env(env: &mut Env) -> Self {
        let kid = env.required("PASS_KEY_ID");
        let seed = env.required("PASS_SIGNING_KEY");
        if kid.is_empty() || seed.is_empty() {
            return Self(None);
        }
        if !valid_kid(&kid) {
            env.invalid(
                "PASS_KEY_ID",
                format!("must be 1 to {MAX_KID_CHARS} of A-Z, 0-9 and -"),
            );
            return Self(None);
        }
        let signer = URL_SAFE_NO_PAD
            .decode(seed.trim().trim_end_matches('='))
            .map_err(|err| format!("not base64url: {err}"))
            .and_then(|seed| Signer::from_seed(&kid, &seed));
        match signer {
            Ok(signer) => Self(Some(signer)),
            Err(why) => {
                // The reason names no part of the secret.
                env.invalid("PASS_SIGNING_KEY", why);
                Self(None)
            }
        }
    }
}

/// The keys a code may be signed with: every one `check-in` accepts and the keys endpoint shows.
#[derive(Debug, Clone)]
pub struct PublicKeys {
    keys: Arc<Vec<(String, Vec<u8>)>>,
}

impl PublicKeys {
    /// From `KID=base64url,KID=base64url…`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys: Vec<(String, Vec<u8>)> = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (kid, key) = entry
                .split_once('=')
                .ok_or_else(|| format!("{entry:?} is not KID=base64url"))?;
            let kid = kid.trim();
            if !valid_kid(kid) {
                return Err(format!(
                    "key id {kid:?} must be 1 to {MAX_KID_CHARS} of A-Z, 0-9 and -"
                ));
            }
            if keys.iter().any(|(k, _)| k == kid) {
                return Err(format!("key id {kid} is listed twice"));
            }
            let key = URL_SAFE_NO_PAD
                .decode(key.trim().trim_end_matches('='))
                .map_err(|err| format!("the key of {kid} is not base64url: {err}"))?;
            if key.len() != 32 {
                return Err(format!(
                    "the key of {kid} must be 32 bytes, not {}",
                    key.len()
                ));
            }
            keys.push((kid.to_owned(), key));
        }
        if keys.is_empty() {
            return Err("no keys".to_owned());
        }
        Ok(Self {
            keys: Arc::new(keys),
        })
    }

    /// The pass a code names, if its signature verifies under one of these keys. Nothing else is
    /// consulted: a forged or garbled code costs no lookup.
    pub fn verify(&self, code: &str) -> Option<uuid::Uuid> {
        if code.len() > MAX_CODE_CHARS {
            return None;
        }
        let code = code.trim().to_ascii_uppercase();
        let (kid, payload) = code.split_once(':')?;
        let (_, key) = self.keys.iter().find(|(k, _)| k == kid)?;
        let payload = base32::decode(payload)?;
        if payload.len() != ID_BYTES + SIGNATURE_BYTES {
            return None;
        }
        let (id, signature) = payload.split_at(ID_BYTES);
        let pass = uuid::Uuid::from_slice(id).ok()?;
        UnparsedPublicKey::new(&ED25519, key)
            .verify(&signed_message(kid, &pass), signature)
            .ok()?;
        Some(pass)
    }

    /// `GET /api/passes/keys`.
    pub fn body(&self) -> KeysBody {
        KeysBody {
            keys: self
                .keys
                .iter()
                .map(|(kid, key)| PublicKeyBody {
                    kid: kid.clone(),
                    public_key: URL_SAFE_NO_PAD.encode(key),
                })
                .collect(),
        }
    }
}

/// `PASS_PUBLIC_KEYS`: `KID=base64url` of each accepted public key, comma-separated. Not a secret.
impl FromEnv for PublicKeys {
    fn from_env(env: &mut Env) -> Self {
        let text = env.required("PASS_PUBLIC_KEYS");
        match Self::parse(&text) {
            Ok(keys) => keys,
            Err(why) => {
                if !text.is_empty() {
                    env.invalid("PASS_PUBLIC_KEYS", why);
                }
                Self {
                    keys: Arc::new(Vec::new()),
                }
            }
        }
    }
}

/// RFC 4648 base32 without padding: upper-case letters and 2–7, all in the QR alphanumeric set.
/// Twenty lines rather than a crate.
mod base32 {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
        let (mut buffer, mut bits) = (0u32, 0u32);
        for &byte in bytes {
            buffer = (buffer << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
            }
        }
        if bits > 0 {
            out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
        }
        out
    }

    /// The bytes, or `None` for a character outside the alphabet or bits left over that are not
    /// zero (so that each byte string has exactly one spelling).
    pub fn decode(text: &str) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(text.len() * 5 / 8);
        let (mut buffer, mut bits) = (0u32, 0u32);
        for byte in text.bytes() {
            let value = ALPHABET.iter().position(|&a| a == byte)?;
            buffer = ((buffer << 5) | value as u32) & 0xFFFF;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push(((buffer >> bits) & 0xFF) as u8);
            }
        }
        (bits < 5 && buffer & ((1 << bits) - 1) == 0).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(kid: &str, seed: u8) -> Signer {
        Signer::from_seed(kid, &[seed; 32]).expect("signer")
    }

    fn keys_of(signers: &[&Signer]) -> PublicKeys {
        let text: Vec<String> = signers
            .iter()
            .map(|s| format!("{}={}", s.kid(), s.public_key()))
            .collect();
        PublicKeys::parse(&text.join(",")).expect("keys")
    }

    #[test]
    fn base32_round_trips_and_has_one_spelling() {
        for length in 0..=20 {
            let bytes: Vec<u8> = (0..length).map(|i| (i * 37 + 11) as u8).collect();
            let text = base32::encode(&bytes);
            assert_eq!(base32::decode(&text), Some(bytes), "{text}");
        }
        assert_eq!(base32::encode(b"foobar"), "MZXW6YTBOI");
        // "MZXW6YTBOJ" differs only in bits beyond the last byte.
        assert_eq!(base32::decode("MZXW6YTBOJ"), None);
        assert_eq!(base32::decode("MZXW6YTBO1"), None);
    }

    #[test]
    fn a_code_is_short_qr_alphanumeric_and_names_its_pass() {
        let key = signer("LOCAL-1", 7);
        let pass = uuid::Uuid::now_v7();
        let code = key.code(&pass);
        assert!(code.len() <= MAX_CODE_CHARS, "{}", code.len());
        assert_eq!(code.len(), 7 + 1 + 128);
        assert!(
            code.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"-:".contains(&b))
        );
        assert_eq!(code, key.code(&pass), "signing is deterministic");
        let keys = keys_of(&[&key]);
        assert_eq!(keys.verify(&code), Some(pass));
        assert_eq!(keys.verify(&code.to_ascii_lowercase()), Some(pass));
    }

    #[test]
    fn a_code_altered_anywhere_or_signed_by_another_key_is_refused() {
        let key = signer("K1", 1);
        let keys = keys_of(&[&key]);
        let code = key.code(&uuid::Uuid::now_v7());
        for at in 3..code.len() {
            let mut altered = code.clone().into_bytes();
            altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(altered).expect("ascii");
            assert_eq!(keys.verify(&altered), None, "changed at {at}");
        }
        let forger = signer("K1", 2);
        assert_eq!(keys.verify(&forger.code(&uuid::Uuid::now_v7())), None);
        // The same signature under another key id does not verify either.
        let other = signer("K2", 1);
        let both = keys_of(&[&key, &other]);
        let relabelled = code.replacen("K1:", "K2:", 1);
        assert_eq!(both.verify(&relabelled), None);
        for garbage in ["", ":", "K1:", "K1", "K1:!!!!", &"A".repeat(500)] {
            assert_eq!(keys.verify(garbage), None, "{garbage}");
        }
    }

    #[test]
    fn every_published_key_is_accepted_so_keys_can_rotate() {
        let old = signer("2026-11", 3);
        let new = signer("2026-12", 4);
        let keys = keys_of(&[&new, &old]);
        let pass = uuid::Uuid::now_v7();
        assert_eq!(keys.verify(&old.code(&pass)), Some(pass));
        assert_eq!(keys.verify(&new.code(&pass)), Some(pass));
        let body = keys.body();
        assert_eq!(body.keys.len(), 2);
        assert_eq!(body.keys[0].kid, "2026-12");
        assert_eq!(body.keys[0].public_key, new.public_key());
    }

    /// A key made as the secrets template says (`openssl genpkey -algorithm ed25519`, the last 32
    /// bytes of its DER forms, `basenc --base64url`); devstack's local stand-in is this pair.
    #[test]
    fn a_key_made_with_openssl_is_read_as_openssl_sees_it() {
        let seed = URL_SAFE_NO_PAD
            .decode("B-3Kjp1pYfY6iBu6LpDNQiTuxEziH5rApbJWaQ0_Arg")
            .expect("base64url");
        let signer = Signer::from_seed("LOCAL-1", &seed).expect("signer");
        assert_eq!(
            signer.public_key(),
            "HYmThZL4y9vNSxeMcIZf9h_BYWyl3OoSOHqtKucyhm4"
        );
        let keys = PublicKeys::parse("LOCAL-1=HYmThZL4y9vNSxeMcIZf9h_BYWyl3OoSOHqtKucyhm4=")
            .expect("keys");
        let pass = uuid::Uuid::now_v7();
        assert_eq!(keys.verify(&signer.code(&pass)), Some(pass));
    }

    #[test]
    fn bad_key_settings_are_explained() {
        assert!(PublicKeys::parse("").is_err());
        assert!(PublicKeys::parse("K1").is_err());
        assert!(PublicKeys::parse("k1=AAAA").is_err());
        assert!(PublicKeys::parse("K1=AAAA").is_err());
        let key = signer("K1", 1).public_key();
        assert!(PublicKeys::parse(&format!("K1={key},K1={key}")).is_err());
        assert!(Signer::from_seed("K1", &[0; 31]).is_err());
        assert!(Signer::from_seed("lower", &[0; 32]).is_err());
        assert!(Signer::from_seed(&"A".repeat(17), &[0; 32]).is_err());
    }
}
