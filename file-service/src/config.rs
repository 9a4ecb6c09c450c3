//! The service's settings: defaults in code, overridden by `CHAT_*` environment variables.

use std::net::SocketAddr;
use std::time::Duration;

use service_kit::config::{
    Backends, ConfigError, Secret, TokenConfig, env_opt, env_or, secret_from_env,
};
use storage::S3Config;

/// The types allowed unless `CHAT_FILE_ALLOWED_TYPES` says otherwise: images, PDF, plain text,
/// audio, video and zip. No SVG or HTML, which a browser would run.
pub const DEFAULT_ALLOWED_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "audio/mpeg",
    "audio/ogg",
    "audio/wav",
    "audio/webm",
    "audio/mp4",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "video/quicktime",
    "application/zip",
];

/// What both run modes share: limits and timings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `CHAT_FILE_MAX_BYTES`, 26214400 (25 MiB): the largest file one may declare.
    pub max_size: u64,
    /// `CHAT_FILE_ALLOWED_TYPES`: comma-separated content types; see [`DEFAULT_ALLOWED_TYPES`].
    pub allowed_types: Vec<String>,
    /// `CHAT_FILE_UPLOAD_URL_TTL_SECS`, 900: how long an upload URL works.
    pub upload_ttl: Duration,
    /// `CHAT_FILE_DOWNLOAD_URL_TTL_SECS`, 300: how long a download URL works.
    pub download_ttl: Duration,
    /// `CHAT_FILE_PENDING_TTL_SECS`, 3600: an upload not completed within this time is
    /// removed (longer than the upload URL lives, so no upload in progress is cut short).
    pub pending_ttl: Duration,
    /// `CHAT_FILE_SWEEP_INTERVAL_SECS`, 60: how often expired uploads and the files of deleted
    /// messages are removed from storage.
    pub sweep_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_size: 25 * 1024 * 1024,
            allowed_types: DEFAULT_ALLOWED_TYPES
                .iter()
                .map(|t| t.to_string())
                .collect(),
            upload_ttl: Duration::from_secs(900),
            download_ttl: Duration::from_secs(300),
            pending_ttl: Duration::from_secs(3600),
            sweep_interval: Duration::from_secs(60),
        }
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Settings::default();
        let secs = |name: &str, default: Duration| -> Result<Duration, ConfigError> {
            let value = env_or(name, default.as_secs())?;
            if value == 0 {
                return Err(ConfigError {
                    name: name.to_string(),
                    value: value.to_string(),
                    reason: "must be at least 1".to_string(),
                });
            }
            Ok(Duration::from_secs(value))
        };
        let allowed_types = match env_opt("CHAT_FILE_ALLOWED_TYPES") {
            Some(list) => list
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect(),
            None => d.allowed_types,
        };
        Ok(Settings {
            max_size: env_or("CHAT_FILE_MAX_BYTES", d.max_size)?,
            allowed_types,
            upload_ttl: secs("CHAT_FILE_UPLOAD_URL_TTL_SECS", d.upload_ttl)?,
            download_ttl: secs("CHAT_FILE_DOWNLOAD_URL_TTL_SECS", d.download_ttl)?,
            pending_ttl: secs("CHAT_FILE_PENDING_TTL_SECS", d.pending_ttl)?,
            sweep_interval: secs("CHAT_FILE_SWEEP_INTERVAL_SECS", d.sweep_interval)?,
        })
    }
}

/// The distributed service's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `CHAT_FILE_LISTEN`, `0.0.0.0:8080`.
    pub listen: SocketAddr,
    /// MongoDB (`CHAT_MONGODB_URL`, `CHAT_MONGODB_DATABASE`) for file metadata and rooms.
    pub backends: Backends,
    /// How access tokens are verified (`CHAT_JWT_PUBLIC_KEY`, `CHAT_JWT_ISSUER`,
    /// `CHAT_JWT_AUDIENCE`).
    pub tokens: TokenConfig,
    pub s3: S3Settings,
    pub settings: Settings,
}

/// Where the bucket is.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// `CHAT_S3_ENDPOINT`, unset: AWS's own endpoint for the region; e.g. `http://minio:9000`.
    pub endpoint: Option<String>,
    /// `CHAT_S3_PUBLIC_ENDPOINT`, unset (= `CHAT_S3_ENDPOINT`): the endpoint in the URLs
    /// browsers get, when they reach the storage under another name than the service does.
    pub public_endpoint: Option<String>,
    /// `CHAT_S3_REGION`, `us-east-1`.
    pub region: String,
    /// `CHAT_S3_BUCKET`, `chat-files`.
    pub bucket: String,
    /// `CHAT_S3_ACCESS_KEY_ID` (or `_FILE`). Required.
    pub access_key_id: Secret,
    /// `CHAT_S3_SECRET_ACCESS_KEY` (or `_FILE`). Required.
    pub secret_access_key: Secret,
    /// `CHAT_S3_FORCE_PATH_STYLE`, `true`: bucket in the path, as MinIO wants.
    pub force_path_style: bool,
    /// `CHAT_S3_CREATE_BUCKET`, `true`: create the bucket at start-up when missing.
    pub create_bucket: bool,
}

impl S3Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let required = |name: &str| -> anyhow::Result<Secret> {
            secret_from_env(name)?.ok_or_else(|| anyhow::anyhow!("set {name} or {name}_FILE"))
        };
        Ok(S3Settings {
            endpoint: env_opt("CHAT_S3_ENDPOINT"),
            public_endpoint: env_opt("CHAT_S3_PUBLIC_ENDPOINT"),
            region: env_or("CHAT_S3_REGION", "us-east-1".to_string())?,
            bucket: env_or("CHAT_S3_BUCKET", "chat-files".to_string())?,
            access_key_id: required("CHAT_S3_ACCESS_KEY_ID")?,
            secret_access_key: required("CHAT_S3_SECRET_ACCESS_KEY")?,
            force_path_style: env_or("CHAT_S3_FORCE_PATH_STYLE", true)?,
            create_bucket: env_or("CHAT_S3_CREATE_BUCKET", true)?,
        })
    }

    /// The storage crate's form, secrets exposed for the client.
    pub fn to_s3_config(&self) -> S3Config {
        S3Config {
            endpoint: self.endpoint.clone(),
            public_endpoint: self.public_endpoint.clone(),
            region: self.region.clone(),
            bucket: self.bucket.clone(),
            access_key_id: self.access_key_id.expose().trim().to_string(),
            secret_access_key: self.secret_access_key.expose().trim().to_string(),
            force_path_style: self.force_path_style,
            create_bucket: self.create_bucket,
        }
    }
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Config {
            listen: env_or("CHAT_FILE_LISTEN", SocketAddr::from(([0, 0, 0, 0], 8080)))?,
            backends: Backends::from_env()?,
            tokens: TokenConfig::from_env()?,
            s3: S3Settings::from_env()?,
            settings: Settings::from_env()?,
        })
    }
}
