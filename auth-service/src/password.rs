//! Argon2id password hashing with OWASP's parameters (19 MiB, 2 passes, 1 lane), run on the
//! blocking pool and bounded in concurrency so a burst of logins cannot exhaust memory.
//!
//! Each hash needs 19 MiB of working memory. Allocated per hash, glibc gives the first such
//! buffer back when freed but then raises its `mmap` threshold, so later buffers come from the
//! heap and stay with the process: 200 registrations in two seconds took the standalone server
//! from 29 MiB to over 1 GiB. So the buffers are kept and reused instead, one per hash that may
//! run at once: the memory of hashing is bounded by `CHAT_MAX_CONCURRENT_HASHES` × 19 MiB, and
//! allocated only as bursts need it.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use argon2::password_hash::{Output, ParamsString, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::{Error, Result};

pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Working memory of finished hashes, for the next ones (at most one per permit).
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
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

/// Hashes `password` with `salt` as `argon` says, in `memory` (grown to the size the
/// parameters need, then wiped): the PHC form of the hash.
fn hash_in<'a>(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: argon2::password_hash::Salt<'a>,
    memory: &mut Vec<Block>,
) -> argon2::password_hash::Result<PasswordHash<'a>> {
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let params = argon.params();
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(output_len, |out| {
        Ok(argon.hash_password_into_with_memory(
            password,
            salt_bytes,
            out,
            &mut memory[..blocks],
        )?)
    });
    // Nothing derived from the password stays behind in the kept memory.
    memory.fill(Block::default());
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(salt),
        hash: Some(output?),
    })
}

/// Whether `password` hashes to `hash` (its own parameters and salt), computed in `memory`.
fn verify_in(password: &[u8], hash: &PasswordHash<'_>, memory: &mut Vec<Block>) -> bool {
    let (Some(salt), Some(expected)) = (hash.salt, &hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(hash.algorithm), Params::try_from(hash))
    else {
        return false;
    };
    let version = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from)
        .unwrap_or_default();
    let argon = Argon2::new(algorithm, version, params);
    match hash_in(&argon, password, salt, memory) {
        // `Output`'s equality takes the same time wherever the outputs differ.
        Ok(computed) => computed.hash.as_ref() == Some(expected),
        Err(_) => false,
    }
}

impl Passwords {
    pub fn new(max_concurrent: usize) -> Self {
        Passwords {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            memory: Arc::default(),
        }
    }

    /// Runs `f` on the blocking pool with kept working memory, returning the memory after.
    async fn with_memory<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut Vec<Block>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(anyhow::Error::from)?;
        let kept = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let mut memory = kept
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop()
                .unwrap_or_default();
            let result = f(&mut memory);
            kept.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(memory);
            result
        })
        .await
        .map_err(anyhow::Error::from)?
    }

    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
    pub async fn hash(&self, password: String) -> Result<String> {
        self.with_memory(move |memory| {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            hash_in(&argon2(), password.as_bytes(), salt.as_salt(), memory)
                .map(|h| h.to_string())
                .map_err(|e| Error::Internal(anyhow::anyhow!("hashing: {e}")))
        })
        .await
    }

    /// Whether `password` matches `hash`; with `None` (no such user) it spends the same effort
    /// and says no.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        self.with_memory(move |memory| {
            let known = hash.is_some();
            let hash = hash.unwrap_or_else(|| decoy_hash().to_string());
            let parsed = PasswordHash::new(&hash)
                .map_err(|e| Error::Internal(anyhow::anyhow!("stored hash unreadable: {e}")))?;
            let matches = verify_in(password.as_bytes(), &parsed, memory);
            Ok(known && matches)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier;

    #[tokio::test]
    async fn hashes_are_standard_argon2id_and_kept_memory_is_reused() {
        let passwords = Passwords::new(2);
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        // The argon2 crate's own verifier agrees, both ways.
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(argon2().verify_password(b"correct horse", &parsed).is_ok());
        let theirs = argon2()
            .hash_password(
                b"battery staple",
                &SaltString::generate(&mut rand::rngs::OsRng),
            )
            .unwrap()
            .to_string();
        assert!(
            passwords
                .verify("battery staple".into(), Some(theirs.clone()))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("battery stapler".into(), Some(theirs))
                .await
                .unwrap()
        );
        assert!(
            passwords
                .verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("correct horse".into(), None)
                .await
                .unwrap()
        );
        // Sequential hashes share one buffer.
        assert_eq!(passwords.memory.lock().unwrap().len(), 1);
    }
}
