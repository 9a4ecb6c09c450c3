//! The VAPID key pair (RFC 8292): a P-256 key whose public half browsers are given when they
//! subscribe, and whose private half signs every push request.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use web_push::{PartialVapidSignatureBuilder, VapidSignatureBuilder};

use crate::{Error, Result};

/// The file the standalone server keeps its generated key in, under its keys directory.
const KEY_FILE: &str = "vapid-p256-private.pem";

/// A VAPID key pair. `Debug` shows the public key only; the private key never prints.
#[derive(Clone)]
pub struct VapidKeys {
    signer: PartialVapidSignatureBuilder,
    public_key: String,
}

impl std::fmt::Debug for VapidKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKeys")
            .field("private_key", &"[redacted]")
            .field("public_key", &self.public_key)
            .finish()
    }
}

impl VapidKeys {
    /// The pair of a private key given as PEM (PKCS#8 `PRIVATE KEY`, as `openssl genpkey`
    /// writes it, or SEC1 `EC PRIVATE KEY`) or as the 32 raw bytes in base64url (the form the
    /// web-push tool chains print).
    pub fn from_private(text: &str) -> Result<Self> {
        let text = text.trim();
        let signer = if text.starts_with("-----BEGIN") {
            VapidSignatureBuilder::from_pem_no_sub(text.as_bytes())
        } else {
            VapidSignatureBuilder::from_base64_no_sub(text)
        }
        // The library's error could quote what it was given; say only what is wrong.
        .map_err(|_| {
            Error::Config(
                "the VAPID private key is neither a P-256 PEM key nor 32 bytes in base64url".into(),
            )
        })?;
        let public_key = URL_SAFE_NO_PAD.encode(signer.get_public_key());
        Ok(VapidKeys { signer, public_key })
    }

    /// A fresh random pair, and its private key as PKCS#8 PEM.
    pub fn generate() -> Result<(Self, String)> {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let pem = secret
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| Error::Internal(format!("encoding a generated VAPID key: {e}")))?;
        Ok((Self::from_private(&pem)?, pem.to_string()))
    }

    /// Loads the key kept in `dir`, or generates one and keeps it there (mode 0600) on the
    /// first start, so browsers' subscriptions stay valid across restarts of the standalone
    /// server (a subscription is bound to the public key it was made with).
    pub fn load_or_generate(dir: &Path) -> Result<Self> {
        let path = dir.join(KEY_FILE);
        let io =
            |e: std::io::Error| Error::Config(format!("VAPID key file {}: {e}", path.display()));
        match std::fs::read_to_string(&path) {
            Ok(pem) => Self::from_private(&pem),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (keys, pem) = Self::generate()?;
                std::fs::create_dir_all(dir).map_err(io)?;
                write_private(&path, pem.as_bytes()).map_err(io)?;
                Ok(keys)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The public key as browsers take it (`applicationServerKey`): the uncompressed point,
    /// base64url without padding.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// A signature builder for one subscription's endpoint.
    pub(crate) fn signer(&self) -> PartialVapidSignatureBuilder {
        self.signer.clone()
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_and_raw_forms_give_the_same_public_key() {
        let (keys, pem) = VapidKeys::generate().unwrap();
        let secret: p256::SecretKey = p256::pkcs8::DecodePrivateKey::from_pkcs8_pem(&pem).unwrap();
        let raw = URL_SAFE_NO_PAD.encode(secret.to_bytes());
        let again = VapidKeys::from_private(&raw).unwrap();
        assert_eq!(again.public_key(), keys.public_key());
        // 65 bytes: 0x04, x, y.
        let point = URL_SAFE_NO_PAD.decode(keys.public_key()).unwrap();
        assert_eq!((point.len(), point[0]), (65, 4));
        assert!(!format!("{keys:?}").contains(&raw));
        assert!(VapidKeys::from_private("not a key").is_err());
    }

    #[test]
    fn a_kept_key_is_loaded_again() {
        let dir = std::env::temp_dir().join(format!("vapid-{}", uuid::Uuid::now_v7().simple()));
        let first = VapidKeys::load_or_generate(&dir).unwrap();
        let second = VapidKeys::load_or_generate(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(first.public_key(), second.public_key());
    }
}
