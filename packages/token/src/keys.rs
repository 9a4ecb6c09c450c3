//! The Ed25519 key pair, as PKCS#8 (private) and SPKI (public) PEM.

use std::path::Path;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};

use crate::jwks::PublicKey;

/// A signing key pair. The private half never leaves auth-service and never prints.
#[derive(Clone)]
pub struct KeyPair {
    private_pem: String,
    public_pem: String,
    public_key: PublicKey,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("private_pem", &"[redacted]")
            .field("public_pem", &self.public_pem)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the private key is not an Ed25519 PKCS#8 PEM key")]
    BadKey,
    #[error("key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl KeyPair {
    /// A fresh random key pair.
    pub fn generate() -> Self {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        Self::from_signing_key(&key)
    }

    /// The pair whose private key is this PKCS#8 PEM.
    pub fn from_private_pem(pem: &str) -> Result<Self, KeyError> {
        let key = SigningKey::from_pkcs8_pem(pem).map_err(|_| KeyError::BadKey)?;
        Ok(Self::from_signing_key(&key))
    }

    fn from_signing_key(key: &SigningKey) -> Self {
        let private_pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("an Ed25519 key always encodes")
            .to_string();
        let public_pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("an Ed25519 public key always encodes");
        KeyPair {
            private_pem,
            public_pem,
            public_key: PublicKey::from_verifying_key(&key.verifying_key()),
        }
    }

    /// Loads `private.pem` from `dir`, or generates a pair and saves it there (mode 0600) on
    /// first start, so tokens survive restarts of the standalone server.
    pub fn load_or_generate(dir: &Path) -> Result<Self, KeyError> {
        let path = dir.join("jwt-ed25519-private.pem");
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(pem) => Self::from_private_pem(&pem),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pair = Self::generate();
                std::fs::create_dir_all(dir).map_err(io)?;
                write_private(&path, pair.private_pem.as_bytes()).map_err(io)?;
                std::fs::write(dir.join("jwt-ed25519-public.pem"), &pair.public_pem).map_err(io)?;
                Ok(pair)
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn private_pem(&self) -> &str {
        &self.private_pem
    }

    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// The public half, as verifiers and the key set hold it.
    pub fn public_key(&self) -> PublicKey {
        self.public_key.clone()
    }

    /// The key id its tokens carry (see [`crate::jwks`]).
    pub fn kid(&self) -> &str {
        self.public_key.kid()
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
