//! Public keys as a key set: what a verifier accepts, and what auth-service publishes at
//! `GET /api/auth/jwks` (a JSON Web Key Set, RFC 7517) so that verifiers learn a new signing
//! key before it signs anything, and keep the old one while its tokens live.
//!
//! Every key is an Ed25519 public key. Its key id (`kid`) is its RFC 7638 thumbprint, so the
//! same key has the same id wherever it is computed; tokens carry it in their header.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::VerifyingKey;
use ed25519_dalek::pkcs8::DecodePublicKey;
use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::BadPublicKey;

/// One Ed25519 public key with its key id.
#[derive(Clone)]
pub struct PublicKey {
    kid: String,
    /// The raw key, base64url without padding (the JWK's `x`).
    x: String,
    decoding: DecodingKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey").field("kid", &self.kid).finish()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.x == other.x
    }
}

impl PublicKey {
    pub(crate) fn from_verifying_key(key: &VerifyingKey) -> Self {
        let x = B64.encode(key.as_bytes());
        // RFC 7638: the required members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let kid = B64.encode(Sha256::digest(canonical.as_bytes()));
        let decoding =
            DecodingKey::from_ed_components(&x).expect("base64url of 32 bytes always decodes");
        PublicKey { kid, x, decoding }
    }

    /// A key from one SPKI PEM block (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_pem(pem: &str) -> Result<Self, BadPublicKey> {
        let key = VerifyingKey::from_public_key_pem(pem.trim()).map_err(|_| BadPublicKey)?;
        Ok(Self::from_verifying_key(&key))
    }

    /// Every key of a text holding one or more SPKI PEM blocks (a file may list the current
    /// key and the next or the previous one). At least one is required.
    pub fn from_pem_bundle(text: &str) -> Result<Vec<Self>, BadPublicKey> {
        const END: &str = "-----END PUBLIC KEY-----";
        let mut keys = Vec::new();
        let mut rest = text;
        while let Some(begin) = rest.find("-----BEGIN") {
            let block = &rest[begin..];
            let end = block.find(END).ok_or(BadPublicKey)? + END.len();
            keys.push(Self::from_pem(&block[..end])?);
            rest = &block[end..];
        }
        if keys.is_empty() || !rest.trim().is_empty() {
            return Err(BadPublicKey);
        }
        Ok(keys)
    }

    /// The key of a JWK, if it is an Ed25519 signing key (anything else is not used). The key
    /// id is computed from the key, not taken from the JWK.
    pub fn from_jwk(jwk: &Jwk) -> Option<Self> {
        if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
            return None;
        }
        if jwk.key_use.as_deref().is_some_and(|u| u != "sig")
            || jwk.alg.as_deref().is_some_and(|a| a != "EdDSA")
        {
            return None;
        }
        let bytes: [u8; 32] = B64.decode(&jwk.x).ok()?.try_into().ok()?;
        let key = VerifyingKey::from_bytes(&bytes).ok()?;
        Some(Self::from_verifying_key(&key))
    }

    /// The RFC 7638 thumbprint of the key: the `kid` of the tokens it verifies.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key as a JWK.
    pub fn to_jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: self.x.clone(),
            kid: Some(self.kid.clone()),
            alg: Some("EdDSA".into()),
            key_use: Some("sig".into()),
        }
    }

    pub(crate) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }
}

/// One key of a [`JwkSet`], as RFC 8037 writes Ed25519 keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub crv: String,
    #[serde(default)]
    pub x: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
}

/// The body of `GET /api/auth/jwks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// The set of these keys, without repeats.
    pub fn of(keys: &[PublicKey]) -> Self {
        let mut jwks: Vec<Jwk> = Vec::with_capacity(keys.len());
        for key in keys {
            let jwk = key.to_jwk();
            if !jwks.contains(&jwk) {
                jwks.push(jwk);
            }
        }
        JwkSet { keys: jwks }
    }

    /// The Ed25519 signing keys of the set; other keys are skipped.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        self.keys.iter().filter_map(PublicKey::from_jwk).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyPair;

    #[test]
    fn the_key_id_is_the_rfc_7638_thumbprint() {
        // RFC 8037, appendix A.2 and A.3: this public key has this thumbprint.
        let jwk = Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into(),
            kid: None,
            alg: None,
            key_use: None,
        };
        let key = PublicKey::from_jwk(&jwk).expect("an Ed25519 key");
        assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn a_bundle_holds_several_keys_and_nothing_else() {
        let (a, b) = (KeyPair::generate(), KeyPair::generate());
        let bundle = format!("{}\n{}", a.public_pem(), b.public_pem());
        let keys = PublicKey::from_pem_bundle(&bundle).unwrap();
        assert_eq!(
            keys.iter().map(PublicKey::kid).collect::<Vec<_>>(),
            [a.kid(), b.kid()]
        );
        assert!(PublicKey::from_pem_bundle("").is_err());
        assert!(PublicKey::from_pem_bundle(&format!("{bundle}\ntrailing")).is_err());
        assert!(PublicKey::from_pem_bundle(a.private_pem()).is_err());
    }

    #[test]
    fn a_set_round_trips_and_skips_what_is_not_an_ed25519_signing_key() {
        let (a, b) = (KeyPair::generate(), KeyPair::generate());
        let set = JwkSet::of(&[a.public_key(), b.public_key(), a.public_key()]);
        assert_eq!(set.keys.len(), 2);
        let mut json: serde_json::Value = serde_json::to_value(&set).unwrap();
        json["keys"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"kty": "oct", "k": "c2VjcmV0"}));
        json["keys"].as_array_mut().unwrap().push(
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": set.keys[0].x, "use": "enc"}),
        );
        let back: JwkSet = serde_json::from_value(json).unwrap();
        let keys = back.public_keys();
        assert_eq!(keys, [a.public_key(), b.public_key()]);
    }
}
