//! Verifying access tokens with public keys only.
//!
//! A [`Verifier`] accepts tokens signed by any key of its set: the keys it was configured with,
//! plus those of auth-service's published key set when it follows one
//! ([`Verifier::follow`]). A token names its key (`kid`); one without a key id (issued before
//! key ids) is tried against every key.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use tokio::sync::Notify;

use crate::Claims;
use crate::jwks::{JwkSet, PublicKey};

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

/// Checks the signature (EdDSA only: `none` and HMAC tokens are refused) against the key set,
/// then `exp`, `iss` and `aud`.
pub struct Verifier {
    configured: Vec<PublicKey>,
    /// The keys of the followed key set, as last fetched.
    published: RwLock<Vec<PublicKey>>,
    /// Woken by a token naming a key this verifier does not know: the set may have grown.
    unknown_key: Notify,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("configured", &self.configured)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the public key is not an Ed25519 SPKI PEM key")]
pub struct BadPublicKey;

/// How often a followed key set is fetched at most when tokens name unknown keys.
const MIN_REFETCH: Duration = Duration::from_secs(5);
/// When a fetch that failed is tried again.
const RETRY_FETCH: Duration = Duration::from_secs(1);

impl Verifier {
    /// A verifier of the keys in `pem`: one SPKI PEM block or several.
    pub fn from_public_pem(pem: &str, issuer: &str, audience: &str) -> Result<Self, BadPublicKey> {
        Ok(Self::new(
            PublicKey::from_pem_bundle(pem)?,
            issuer,
            audience,
        ))
    }

    /// A verifier of these keys (possibly none yet, when it follows a published set).
    pub fn new(keys: Vec<PublicKey>, issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Verifier {
            configured: keys,
            published: RwLock::new(Vec::new()),
            unknown_key: Notify::new(),
            validation,
        }
    }

    /// The claims of a valid token.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        let published = self.published.read().unwrap_or_else(|e| e.into_inner());
        let keys = self.configured.iter().chain(published.iter());
        let candidates: Vec<&PublicKey> = match &header.kid {
            Some(kid) => keys.filter(|k| k.kid() == kid).take(1).collect(),
            None => keys.collect(),
        };
        if candidates.is_empty() {
            self.unknown_key.notify_one();
            return Err(TokenError::Invalid(match header.kid {
                Some(kid) => format!("unknown key id {kid:?}"),
                None => "no public key to verify with".into(),
            }));
        }
        let mut refusal = TokenError::Invalid("no key verifies the signature".into());
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, key.decoding(), &self.validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                    return Err(TokenError::Expired);
                }
                Err(e) => refusal = TokenError::Invalid(e.to_string()),
            }
        }
        Err(refusal)
    }

    /// Replaces the keys of the followed set.
    pub fn set_published(&self, keys: Vec<PublicKey>) {
        *self.published.write().unwrap_or_else(|e| e.into_inner()) = keys;
    }

    /// The key ids this verifier accepts now.
    pub fn kids(&self) -> Vec<String> {
        let published = self.published.read().unwrap_or_else(|e| e.into_inner());
        self.configured
            .iter()
            .chain(published.iter())
            .map(|k| k.kid().to_string())
            .collect()
    }

    /// Fetches the key set at `url` (auth-service's `/api/auth/jwks`) now, then every `every`,
    /// and at most every few seconds sooner when a token names a key not in the set. A failed
    /// fetch keeps the keys already known and is tried again a second later. Runs until the task is
    /// aborted.
    pub fn follow(self: &Arc<Self>, url: String, every: Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client without TLS settings builds");
            loop {
                let wait = match fetch(&client, &url).await {
                    Ok(keys) => {
                        let changed =
                            *this.published.read().unwrap_or_else(|e| e.into_inner()) != keys;
                        if changed {
                            tracing::info!(
                                kids = ?keys.iter().map(PublicKey::kid).collect::<Vec<_>>(),
                                "token keys fetched"
                            );
                        }
                        this.set_published(keys);
                        every
                    }
                    Err(e) => {
                        tracing::warn!(%url, error = %e, "token key set not fetched");
                        every.min(RETRY_FETCH)
                    }
                };
                tokio::time::sleep(MIN_REFETCH.min(wait)).await;
                let rest = wait.saturating_sub(MIN_REFETCH);
                let _ = tokio::time::timeout(rest, this.unknown_key.notified()).await;
            }
        })
    }
}

/// The Ed25519 keys of the key set at `url`.
async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<PublicKey>, String> {
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()));
    }
    let set: JwkSet = response.json().await.map_err(|e| e.to_string())?;
    let keys = set.public_keys();
    if keys.is_empty() {
        return Err("the set holds no Ed25519 signing key".into());
    }
    Ok(keys)
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
    fn tokens_carry_their_key_id_and_every_key_of_the_set_verifies() {
        let (old, new) = (KeyPair::generate(), KeyPair::generate());
        let ttl = Duration::from_secs(900);
        let by_old = Issuer::new(&old, DEFAULT_ISSUER, DEFAULT_AUDIENCE, ttl).issue("u1", "a");
        let by_new = Issuer::new(&new, DEFAULT_ISSUER, DEFAULT_AUDIENCE, ttl).issue("u2", "b");
        let header = jsonwebtoken::decode_header(&by_new).unwrap();
        assert_eq!(header.kid.as_deref(), Some(new.kid()));

        let verifier =
            Verifier::from_public_pem(old.public_pem(), DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
        assert_eq!(verifier.verify(&by_old).unwrap().sub, "u1");
        let refused = verifier.verify(&by_new).unwrap_err();
        assert!(refused.to_string().contains("unknown key id"), "{refused}");

        // The published set grows by the new key: both are accepted.
        verifier.set_published(vec![old.public_key(), new.public_key()]);
        assert_eq!(verifier.verify(&by_old).unwrap().sub, "u1");
        assert_eq!(verifier.verify(&by_new).unwrap().sub, "u2");

        // A key id does not let a token pick another key: a token naming the old key but
        // signed by the new one is refused.
        let mut claims = claims_json(600, DEFAULT_AUDIENCE);
        claims["sub"] = "mallory".into();
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.kid = Some(old.kid().to_string());
        let key = jsonwebtoken::EncodingKey::from_ed_pem(new.private_pem().as_bytes()).unwrap();
        let mislabelled = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        assert!(matches!(
            verifier.verify(&mislabelled),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn a_token_without_a_key_id_is_tried_against_every_key() {
        let (a, b) = (KeyPair::generate(), KeyPair::generate());
        let verifier = Verifier::from_public_pem(
            &format!("{}{}", a.public_pem(), b.public_pem()),
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
        )
        .unwrap();
        let token = sign_eddsa(&b, &claims_json(600, DEFAULT_AUDIENCE));
        assert_eq!(verifier.verify(&token).unwrap().sub, "u1");
        let expired = sign_eddsa(&b, &claims_json(-60, DEFAULT_AUDIENCE));
        assert!(matches!(
            verifier.verify(&expired),
            Err(TokenError::Expired)
        ));
        let stranger = sign_eddsa(&KeyPair::generate(), &claims_json(600, DEFAULT_AUDIENCE));
        assert!(matches!(
            verifier.verify(&stranger),
            Err(TokenError::Invalid(_))
        ));
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
