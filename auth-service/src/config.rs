//! Configuration. Every value has a default here and an environment override (`CHAT_*`);
//! the README lists them all.

use std::net::SocketAddr;
use std::time::Duration;

use rate_limit::Rule;
use service_kit::config::{ConfigError, Secret, env_opt, env_or};
use token::KeyPair;

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
    /// `CHAT_MONGODB_URL`, `mongodb://127.0.0.1:27017`.
    pub mongodb_url: Secret,
    /// `CHAT_MONGODB_DATABASE`, `chat`.
    pub mongodb_database: String,
    /// `CHAT_REDIS_URL`, `redis://127.0.0.1:6379`.
    pub redis_url: Secret,
    /// `CHAT_REDIS_PREFIX`, `chat:`.
    pub redis_prefix: String,
    /// The Ed25519 private key, PKCS#8 PEM: `CHAT_JWT_PRIVATE_KEY`, or a file named by
    /// `CHAT_JWT_PRIVATE_KEY_FILE`. Required.
    pub jwt_private_key: Option<Secret>,
    pub settings: Settings,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let jwt_private_key = match (
            env_opt("CHAT_JWT_PRIVATE_KEY"),
            env_opt("CHAT_JWT_PRIVATE_KEY_FILE"),
        ) {
            (Some(pem), _) => Some(Secret::new(pem)),
            (None, Some(path)) => Some(Secret::new(
                std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("CHAT_JWT_PRIVATE_KEY_FILE={path}: {e}"))?,
            )),
            (None, None) => None,
        };
        Ok(Config {
            listen: env_or("CHAT_AUTH_LISTEN", "0.0.0.0:8080".parse()?)?,
            mongodb_url: Secret::new(env_or(
                "CHAT_MONGODB_URL",
                "mongodb://127.0.0.1:27017".to_string(),
            )?),
            mongodb_database: env_or("CHAT_MONGODB_DATABASE", "chat".to_string())?,
            redis_url: Secret::new(env_or(
                "CHAT_REDIS_URL",
                "redis://127.0.0.1:6379".to_string(),
            )?),
            redis_prefix: env_or("CHAT_REDIS_PREFIX", "chat:".to_string())?,
            jwt_private_key,
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
}
