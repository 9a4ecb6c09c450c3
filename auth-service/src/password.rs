//! Argon2id password hashing with OWASP's parameters (19 MiB, 2 passes, 1 lane), run on the
//! blocking pool and bounded in concurrency so a burst of logins cannot exhaust memory.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::{Error, Result};

pub struct Passwords {
    permits: Arc<Semaphore>,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash of a password nobody has, verified when the user does not exist so that an unknown
/// username costs the same time as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        argon2()
            .hash_password(b"decoy password, never valid", &salt)
            .expect("hashing cannot fail with valid parameters")
            .to_string()
    })
}

impl Passwords {
    pub fn new(max_concurrent: usize) -> Self {
        Passwords {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
        }
    }

    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
    pub async fn hash(&self, password: String) -> Result<String> {
        let _permit = self.permits.acquire().await.map_err(anyhow::Error::from)?;
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            argon2()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| Error::Internal(anyhow::anyhow!("hashing: {e}")))
        })
        .await
        .map_err(anyhow::Error::from)?
    }

    /// Whether `password` matches `hash`; with `None` (no such user) it spends the same effort
    /// and says no.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        let _permit = self.permits.acquire().await.map_err(anyhow::Error::from)?;
        tokio::task::spawn_blocking(move || {
            let known = hash.is_some();
            let hash = hash.unwrap_or_else(|| decoy_hash().to_string());
            let parsed = PasswordHash::new(&hash)
                .map_err(|e| Error::Internal(anyhow::anyhow!("stored hash unreadable: {e}")))?;
            let matches = argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            Ok(known && matches)
        })
        .await
        .map_err(anyhow::Error::from)?
    }
}
