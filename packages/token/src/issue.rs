//! Issuing access tokens (auth-service only).

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::{Claims, KeyPair};

/// Signs access tokens with the private key.
pub struct Issuer {
    key: EncodingKey,
    /// The header of every token: EdDSA, and the key id verifiers pick the key by.
    header: Header,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl Issuer {
    pub fn new(keys: &KeyPair, issuer: &str, audience: &str, ttl: Duration) -> Self {
        let key = EncodingKey::from_ed_pem(keys.private_pem().as_bytes())
            .expect("KeyPair holds a valid Ed25519 PKCS#8 key");
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(keys.kid().to_string());
        Issuer {
            key,
            header,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl,
        }
    }

    /// How long an issued token lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A signed token for this user.
    pub fn issue(&self, user_id: &str, username: &str) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            name: username.to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + self.ttl.as_secs(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
        };
        jsonwebtoken::encode(&self.header, &claims, &self.key)
            .expect("signing with a valid Ed25519 key cannot fail")
    }
}
