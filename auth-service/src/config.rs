//! Configuration. Every value has a default here and an environment override (`CHAT_*`);
//! the README lists them all.

use std::net::SocketAddr;
use std::time::Duration;

use rate_limit::Rule;
use service_kit::config::{Backends, ConfigError, Secret, env_or, secret_from_env};
use token::{KeyPair, PublicKey};

/// What the auth logic needs, in either run mode.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `iss` of issued tokens (`CHAT_JWT_ISSUER`).
    pub issuer: String,
    /// `aud` of issued tokens (`CHAT_JWT_AUDIENCE`).
    pub audience: String,
    /// Access-token lifetime (`CHAT_ACCESS_TOKEN_TTL_SECS`, 900).
    pub access_ttl: Duration,
    /// Refresh-token lifetime (`CHAT_REFRESH_TOKEN_TTL_SECS`, 30 days).
    pub refresh_ttl: Duration,
    /// Failed logins allowed per username (`CHAT_LOGIN_MAX_FAILURES_PER_USER`, 5 per
    /// `CHAT_LOGIN_WINDOW_SECS`, 900).
    pub login_per_user: Rule,
    /// Failed logins allowed per client address (`CHAT_LOGIN_MAX_FAILURES_PER_ADDR`, 30 per
    /// the same window).
    pub login_per_addr: Rule,
    /// Take the client address from the right-most `X-Forwarded-For` entry; only behind a
    /// proxy that sets it (`CHAT_TRUST_FORWARDED_FOR`, false).
    pub trust_forwarded_for: bool,
    /// Argon2id hashes computed at once; each takes 19 MiB (`CHAT_MAX_CONCURRENT_HASHES`, 4).
    pub max_concurrent_hashes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        let window = Duration::from_secs(900);
        Settings {
            issuer: token::DEFAULT_ISSUER.into(),
            audience: token::DEFAULT_AUDIENCE.into(),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            login_per_user: Rule::new(5, window),
            login_per_addr: Rule::new(30, window),
            trust_forwarded_for: false,
            max_concurrent_hashes: 4,
        }
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Settings::default();
        let window = Duration::from_secs(env_or("CHAT_LOGIN_WINDOW_SECS", 900u64)?);
        Ok(Settings {
            issuer: env_or("CHAT_JWT_ISSUER", d.issuer)?,
            audience: env_or("CHAT_JWT_AUDIENCE", d.audience)?,
            access_ttl: Duration::from_secs(env_or("CHAT_ACCESS_TOKEN_TTL_SECS", 900u64)?),
            refresh_ttl: Duration::from_secs(env_or(
                "CHAT_REFRESH_TOKEN_TTL_SECS",
                d.refresh_ttl.as_secs(),
            )?),
            login_per_user: Rule::new(env_or("CHAT_LOGIN_MAX_FAILURES_PER_USER", 5u32)?, window),
            login_per_addr: Rule::new(env_or("CHAT_LOGIN_MAX_FAILURES_PER_ADDR", 30u32)?, window),
            trust_forwarded_for: env_or("CHAT_TRUST_FORWARDED_FOR", false)?,
            max_concurrent_hashes: env_or("CHAT_MAX_CONCURRENT_HASHES", 4usize)?.max(1),
        })
    }
}

/// The distributed auth-service's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `CHAT_AUTH_LISTEN`, `0.0.0.0:8080`.
    pub listen: SocketAddr,
    /// MongoDB and Redis (the login throttles).
    pub backends: Backends,
    /// The Ed25519 private key, PKCS#8 PEM: `CHAT_JWT_PRIVATE_KEY`, or a file named by
    /// `CHAT_JWT_PRIVATE_KEY_FILE`. Required.
    pub jwt_private_key: Option<Secret>,
    /// More public keys to publish in the key set and to accept, one or more SPKI PEM blocks:
    /// `CHAT_JWT_PUBLISHED_KEYS` or `CHAT_JWT_PUBLISHED_KEYS_FILE`. During a key rotation,
    /// the next key (before auth-service signs with it) or the previous one (until its tokens
    /// have expired).
    pub jwt_published_keys: Option<Secret>,
    pub settings: Settings,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Config {
            listen: env_or("CHAT_AUTH_LISTEN", "0.0.0.0:8080".parse()?)?,
            backends: Backends::from_env()?,
            jwt_private_key: secret_from_env("CHAT_JWT_PRIVATE_KEY")?,
            jwt_published_keys: secret_from_env("CHAT_JWT_PUBLISHED_KEYS")?,
            settings: Settings::from_env()?,
        })
    }

    /// The signing key; the distributed service refuses to start without one.
    pub fn signing_key(&self) -> anyhow::Result<KeyPair> {
        let pem = self.jwt_private_key.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "set CHAT_JWT_PRIVATE_KEY or CHAT_JWT_PRIVATE_KEY_FILE (Ed25519 PKCS#8 PEM)"
            )
        })?;
        Ok(KeyPair::from_private_pem(pem.expose())?)
    }

    /// The other keys to publish (none unless a rotation is under way).
    pub fn published_keys(&self) -> anyhow::Result<Vec<PublicKey>> {
        match &self.jwt_published_keys {
            // An empty file: no rotation under way.
            Some(pem) if pem.expose().trim().is_empty() => Ok(Vec::new()),
            Some(pem) => PublicKey::from_pem_bundle(pem.expose()).map_err(|e| {
                anyhow::anyhow!("CHAT_JWT_PUBLISHED_KEYS(_FILE): {e} (one or more blocks)")
            }),
            None => Ok(Vec::new()),
        }
    }
}
