//! Configuration from environment variables. Each service has its own `Config` struct with
//! defaults in code; these helpers read the overrides and say clearly what was wrong.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// A bad configuration value: the process refuses to start and says which variable.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    pub name: String,
    pub value: String,
    pub reason: String,
}

/// The value of `name`, parsed, or `default` when unset or empty.
pub fn env_or<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => {
            value.trim().parse().map_err(|e: T::Err| ConfigError {
                name: name.to_string(),
                reason: e.to_string(),
                value,
            })
        }
        _ => Ok(default),
    }
}

/// The value of `name` when set and not empty.
pub fn env_opt(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A secret (key, password, URL with credentials): never shown by `Debug` or `Display`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter22");
        assert!(!format!("{s:?} {s}").contains("hunter22"));
        assert_eq!(s.expose(), "hunter22");
    }
}

/// A secret given either inline (`NAME`) or as a file path (`NAME_FILE`, as Kubernetes mounts
/// secrets); `None` when neither is set.
pub fn secret_from_env(name: &str) -> Result<Option<Secret>, ConfigError> {
    if let Some(value) = env_opt(name) {
        return Ok(Some(Secret::new(value)));
    }
    let file_var = format!("{name}_FILE");
    match env_opt(&file_var) {
        Some(path) => std::fs::read_to_string(&path)
            .map(|v| Some(Secret::new(v)))
            .map_err(|e| ConfigError {
                name: file_var,
                value: path,
                reason: e.to_string(),
            }),
        None => Ok(None),
    }
}

/// How a service that takes access tokens verifies them; every such service reads the same
/// variables.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// Public keys accepted whatever the key set says, one or more Ed25519 SPKI PEM blocks:
    /// `CHAT_JWT_PUBLIC_KEY` or `CHAT_JWT_PUBLIC_KEY_FILE`. Required unless `jwks_url` is set.
    pub public_key: Option<String>,
    /// `CHAT_JWKS_URL`: auth-service's key set (`http://auth-service/api/auth/jwks`), fetched
    /// at start and every `jwks_refresh`, so that a new signing key is accepted before it signs.
    pub jwks_url: Option<String>,
    /// `CHAT_JWKS_REFRESH_SECS`, 60.
    pub jwks_refresh: Duration,
    /// `CHAT_JWT_ISSUER`, `chat-auth`.
    pub issuer: String,
    /// `CHAT_JWT_AUDIENCE`, `chat`.
    pub audience: String,
}

impl TokenConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let public_key = secret_from_env("CHAT_JWT_PUBLIC_KEY")?.map(|k| k.expose().to_string());
        let jwks_url = env_opt("CHAT_JWKS_URL");
        if public_key.is_none() && jwks_url.is_none() {
            return Err(ConfigError {
                name: "CHAT_JWKS_URL".into(),
                value: String::new(),
                reason: "set it (auth-service's /api/auth/jwks), or CHAT_JWT_PUBLIC_KEY or \
                         CHAT_JWT_PUBLIC_KEY_FILE (Ed25519 SPKI PEM), or both"
                    .into(),
            });
        }
        Ok(TokenConfig {
            public_key,
            jwks_url,
            jwks_refresh: Duration::from_secs(env_or("CHAT_JWKS_REFRESH_SECS", 60u64)?.max(1)),
            issuer: env_or("CHAT_JWT_ISSUER", token::DEFAULT_ISSUER.to_string())?,
            audience: env_or("CHAT_JWT_AUDIENCE", token::DEFAULT_AUDIENCE.to_string())?,
        })
    }

    /// Tokens of these public keys (PEM), with the default issuer and audience.
    pub fn of_public_key(pem: &str) -> Self {
        TokenConfig {
            public_key: Some(pem.to_string()),
            jwks_url: None,
            jwks_refresh: Duration::from_secs(60),
            issuer: token::DEFAULT_ISSUER.to_string(),
            audience: token::DEFAULT_AUDIENCE.to_string(),
        }
    }

    /// The verifier of these settings, following the key set when one is configured (from a
    /// Tokio runtime, which runs the fetching).
    pub fn verifier(&self) -> Result<Arc<token::Verifier>, token::BadPublicKey> {
        let keys = match &self.public_key {
            Some(pem) => token::PublicKey::from_pem_bundle(pem)?,
            None => Vec::new(),
        };
        let verifier = Arc::new(token::Verifier::new(keys, &self.issuer, &self.audience));
        if let Some(url) = &self.jwks_url {
            verifier.follow(url.clone(), self.jwks_refresh);
        }
        Ok(verifier)
    }
}

/// Where the external systems of the distributed mode are; every distributed service reads
/// the same variables.
#[derive(Debug, Clone)]
pub struct Backends {
    /// `CHAT_MONGODB_URL`, `mongodb://127.0.0.1:27017`.
    pub mongodb_url: Secret,
    /// `CHAT_MONGODB_DATABASE`, `chat`.
    pub mongodb_database: String,
    /// `CHAT_REDIS_URL`, `redis://127.0.0.1:6379`.
    pub redis_url: Secret,
    /// `CHAT_REDIS_PREFIX`, `chat:`: every Redis key and channel starts with it.
    pub redis_prefix: String,
    /// `CHAT_AMQP_URL`, `amqp://guest:guest@127.0.0.1:5672/%2f`.
    pub amqp_url: Secret,
    /// `CHAT_AMQP_PREFIX`, empty: prepended to exchange and queue names.
    pub amqp_prefix: String,
}

impl Backends {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Backends {
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
            amqp_url: Secret::new(env_or(
                "CHAT_AMQP_URL",
                "amqp://guest:guest@127.0.0.1:5672/%2f".to_string(),
            )?),
            amqp_prefix: env_or("CHAT_AMQP_PREFIX", String::new())?,
        })
    }
}
