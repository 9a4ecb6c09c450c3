//! [`S3Storage`]: any S3-compatible storage through `aws-sdk-s3`.
//!
//! Presigned URLs are made locally (no request to the storage). They use a second client whose
//! endpoint is the one browsers reach ([`S3Config::public_endpoint`]), since inside a cluster
//! the service often talks to the storage under another name.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use crate::{
    Error, ObjectInfo, ObjectStorage, Presigned, Result, check_key, disposition, expires_at,
};

/// Where the bucket is and how to reach it.
#[derive(Clone)]
pub struct S3Config {
    /// The endpoint the service talks to, e.g. `http://minio:9000`; `None` for AWS's own.
    pub endpoint: Option<String>,
    /// The endpoint presigned URLs point at (what browsers reach); `endpoint` when `None`.
    pub public_endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `http://host/bucket/key` rather than `http://bucket.host/key`; MinIO wants it.
    pub force_path_style: bool,
    /// Create the bucket at start-up when it does not exist.
    pub create_bucket: bool,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("public_endpoint", &self.public_endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .field("force_path_style", &self.force_path_style)
            .field("create_bucket", &self.create_bucket)
            .finish()
    }
}

/// Object storage on an S3 bucket. Cheap to clone.
#[derive(Debug, Clone)]
pub struct S3Storage {
    client: Client,
    presigner: Client,
    bucket: String,
}

impl S3Storage {
    /// Builds the clients and checks the bucket answers, creating it first when allowed.
    pub async fn connect(config: S3Config) -> Result<Self> {
        let presigner = client(
            &config,
            config
                .public_endpoint
                .as_deref()
                .or(config.endpoint.as_deref()),
        );
        let client = client(&config, config.endpoint.as_deref());
        let storage = S3Storage {
            client,
            presigner,
            bucket: config.bucket.clone(),
        };
        if config.create_bucket {
            storage.create_bucket().await?;
        }
        storage.ping().await?;
        Ok(storage)
    }

    async fn create_bucket(&self) -> Result<()> {
        if self.ping().await.is_ok() {
            return Ok(());
        }
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => {
                tracing::info!(bucket = %self.bucket, "created the bucket");
                Ok(())
            }
            Err(e)
                if matches!(
                    e.code(),
                    Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(map_err(e)),
        }
    }

    fn presigning(ttl: Duration) -> Result<PresigningConfig> {
        PresigningConfig::expires_in(ttl).map_err(|e| Error::Internal(e.to_string()))
    }
}

fn client(config: &S3Config, endpoint: Option<&str>) -> Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut builder = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(config.region.clone()))
        .credentials_provider(Credentials::new(
            config.access_key_id.clone(),
            config.secret_access_key.clone(),
            None,
            None,
            "chat-config",
        ))
        .force_path_style(config.force_path_style)
        // No checksums the client would have to compute: a browser uploads with plain PUTs.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(20))
                .build(),
        )
        .http_client(http);
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    Client::from_conf(builder.build())
}

fn presigned(request: &PresignedRequest, ttl: Duration) -> Presigned {
    Presigned {
        url: request.uri().to_owned(),
        headers: request
            .headers()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
            .collect::<BTreeMap<_, _>>(),
        expires_at: expires_at(ttl),
    }
}

/// Not found (`NoSuchKey`, a bare 404 on HEAD) is `None`; the rest is mapped by [`map_err`].
fn absent<E, R>(e: SdkError<E, R>) -> Result<()>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
    SdkError<E, R>: ProvideErrorMetadata,
{
    let not_found = match &e {
        SdkError::ServiceError(service) => {
            matches!(service.err().code(), Some("NoSuchKey" | "NotFound"))
                || format!("{:?}", service.raw()).contains("StatusCode(404)")
        }
        _ => false,
    };
    if not_found { Ok(()) } else { Err(map_err(e)) }
}

fn map_err<E, R>(e: SdkError<E, R>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
    SdkError<E, R>: ProvideErrorMetadata,
{
    let detail = match e.code() {
        Some(code) => format!("{code}: {}", e.message().unwrap_or_default()),
        None => format!("{}", aws_sdk_s3::error::DisplayErrorContext(&e)),
    };
    Error::Unavailable(detail)
}

#[async_trait]
impl ObjectStorage for S3Storage {
    async fn presign_put(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
        ttl: Duration,
    ) -> Result<Presigned> {
        check_key(key)?;
        let length = i64::try_from(size).map_err(|_| Error::Internal("size too large".into()))?;
        let request = self
            .presigner
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(length)
            .content_type(content_type)
            .presigned(Self::presigning(ttl)?)
            .await
            .map_err(map_err)?;
        let mut upload = presigned(&request, ttl);
        // Signed, so the storage refuses any other length; sent by every HTTP client anyway.
        upload
            .headers
            .insert("content-length".into(), size.to_string());
        Ok(upload)
    }

    async fn presign_get(
        &self,
        key: &str,
        filename: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<Presigned> {
        check_key(key)?;
        let request = self
            .presigner
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(disposition::attachment(filename))
            .response_content_type(content_type)
            .presigned(Self::presigning(ttl)?)
            .await
            .map_err(map_err)?;
        Ok(presigned(&request, ttl))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        check_key(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(ObjectInfo {
                size: head
                    .content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                content_type: head.content_type().map(str::to_owned),
            })),
            Err(e) => absent(e).map(|()| None),
        }
    }

    async fn first_bytes(&self, key: &str, len: usize) -> Result<Option<Vec<u8>>> {
        check_key(key)?;
        if len == 0 {
            return Ok(self.head(key).await?.map(|_| Vec::new()));
        }
        let object = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes=0-{}", len - 1))
            .send()
            .await
        {
            Ok(object) => object,
            // An empty object has no byte 0: the range is unsatisfiable.
            Err(e) if e.code() == Some("InvalidRange") => return Ok(Some(Vec::new())),
            Err(e) => return absent(e).map(|()| None),
        };
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| Error::Unavailable(format!("reading the object: {e}")))?
            .into_bytes();
        // A server that ignores the range sends everything; keep what was asked for.
        Ok(Some(bytes[..bytes.len().min(len)].to_vec()))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        check_key(key)?;
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => absent(e),
        }
    }

    async fn ping(&self) -> Result<()> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }
}
