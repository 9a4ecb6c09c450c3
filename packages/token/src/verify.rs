//! Verifying access tokens with the public key only.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::Claims;

/// Why a token was refused. Callers answer `unauthorized` whatever the reason; the reason is
/// for logs.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no token")]
    Missing,
    #[error("token expired")]
    Expired,
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Checks the signature (EdDSA only: `none` and HMAC tokens are refused), `exp`, `iss` and `aud`.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the public key is not an Ed25519 SPKI PEM key")]
pub struct BadPublicKey;

impl Verifier {
    pub fn from_public_pem(pem: &str, issuer: &str, audience: &str) -> Result<Self, BadPublicKey> {
        let key = DecodingKey::from_ed_pem(pem.as_bytes()).map_err(|_| BadPublicKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Ok(Verifier { key, validation })
    }

    /// The claims of a valid token.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(e.to_string()),
            })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use hmac::Mac;

    use super::*;
    use crate::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, Issuer, KeyPair};

    fn setup() -> (KeyPair, Issuer, Verifier) {
        let keys = KeyPair::generate();
        let issuer = Issuer::new(
            &keys,
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
            Duration::from_secs(900),
        );
        let verifier =
            Verifier::from_public_pem(keys.public_pem(), DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
        (keys, issuer, verifier)
    }

    fn claims_json(exp_offset: i64, aud: &str) -> serde_json::Value {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        serde_json::json!({
            "sub": "u1", "name": "alice", "iss": DEFAULT_ISSUER, "aud": aud,
            "iat": now, "exp": now + exp_offset, "jti": "j"
        })
    }

    fn unsigned(header: serde_json::Value, claims: &serde_json::Value) -> String {
        format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        )
    }

    fn sign_eddsa(keys: &KeyPair, claims: &serde_json::Value) -> String {
        let key = jsonwebtoken::EncodingKey::from_ed_pem(keys.private_pem().as_bytes()).unwrap();
        jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::EdDSA), claims, &key).unwrap()
    }

    #[test]
    fn accepts_a_token_it_issued() {
        let (_, issuer, verifier) = setup();
        let claims = verifier.verify(&issuer.issue("u1", "alice")).unwrap();
        assert_eq!(claims.sub, "u1");
        assert_eq!(claims.name, "alice");
    }

    #[test]
    fn refuses_alg_none() {
        let (_, _, verifier) = setup();
        let token = format!(
            "{}.",
            unsigned(
                serde_json::json!({"alg": "none", "typ": "JWT"}),
                &claims_json(600, DEFAULT_AUDIENCE)
            )
        );
        assert!(matches!(
            verifier.verify(&token),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn refuses_hs256_signed_with_the_public_key() {
        let (keys, _, verifier) = setup();
        let input = unsigned(
            serde_json::json!({"alg": "HS256", "typ": "JWT"}),
            &claims_json(600, DEFAULT_AUDIENCE),
        );
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(keys.public_pem().as_bytes()).unwrap();
        mac.update(input.as_bytes());
        let token = format!("{input}.{}", B64.encode(mac.finalize().into_bytes()));
        assert!(matches!(
            verifier.verify(&token),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn refuses_expired_tokens() {
        let (keys, _, verifier) = setup();
        let token = sign_eddsa(&keys, &claims_json(-60, DEFAULT_AUDIENCE));
        assert!(matches!(verifier.verify(&token), Err(TokenError::Expired)));
    }

    #[test]
    fn refuses_the_wrong_audience_and_issuer() {
        let (keys, _, verifier) = setup();
        let token = sign_eddsa(&keys, &claims_json(600, "someone-else"));
        assert!(matches!(
            verifier.verify(&token),
            Err(TokenError::Invalid(_))
        ));
        let mut claims = claims_json(600, DEFAULT_AUDIENCE);
        claims["iss"] = "evil".into();
        let token = sign_eddsa(&keys, &claims);
        assert!(matches!(
            verifier.verify(&token),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn refuses_tampered_tokens_and_other_keys() {
        let (_, issuer, verifier) = setup();
        let token = issuer.issue("u1", "alice");
        let (head, rest) = token.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let mut claims = claims_json(600, DEFAULT_AUDIENCE);
        claims["sub"] = "admin".into();
        let forged = format!("{head}.{}.{sig}", B64.encode(claims.to_string()));
        assert!(matches!(
            verifier.verify(&forged),
            Err(TokenError::Invalid(_))
        ));

        let other = Issuer::new(
            &KeyPair::generate(),
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
            Duration::from_secs(900),
        );
        assert!(verifier.verify(&other.issue("u1", "alice")).is_err());
        assert!(verifier.verify("").is_err());
        assert!(verifier.verify("not.a.jwt").is_err());
    }

    #[test]
    fn key_pairs_round_trip_through_pem_files() {
        let dir = std::env::temp_dir().join(format!("chat-keys-{}", uuid::Uuid::new_v4()));
        let first = KeyPair::load_or_generate(&dir).unwrap();
        let again = KeyPair::load_or_generate(&dir).unwrap();
        assert_eq!(first.public_pem(), again.public_pem());
        assert!(!format!("{first:?}").contains(first.private_pem()));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
