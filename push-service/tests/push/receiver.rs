//! A push service of our own for the tests, written from RFC 8291 and RFC 8292 on other crates
//! than the sender's (p256, hkdf, aes-gcm rather than web-push, ece, OpenSSL, jwt-simple), so a
//! mistake in the sender cannot cancel out against the same mistake here.
//!
//! Every request to `/push/{device}` has its VAPID `Authorization` checked (ES256 signature
//! with `k`, which must be the service's published key; `aud` the endpoint's origin; `exp` in
//! the future and within 24 h; a `sub`), and its `aes128gcm` body decrypted with the device's
//! private key and auth secret. A request failing either is answered 403 and recorded as a
//! rejection. Each device answers as its [`Behaviour`] says.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use serde_json::Value;
use sha2::Sha256;

/// How a device's push service answers.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// 201 Created.
    Accept,
    /// These statuses first (with their `Retry-After` seconds, if any), then 201.
    Statuses(Vec<(u16, Option<u64>)>),
    /// 410 Gone: the subscription expired.
    Gone,
    /// Never answers.
    Hang,
}

/// A browser's side of one subscription: its keys and where its push service is.
pub struct Device {
    pub id: String,
    pub endpoint: String,
    secret: SecretKey,
    auth: [u8; 16],
}

impl Device {
    /// `PushSubscription.toJSON()`.
    pub fn subscription(&self) -> Value {
        serde_json::json!({
            "endpoint": self.endpoint,
            "expirationTime": null,
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(self.secret.public_key().to_encoded_point(false).as_bytes()),
                "auth": URL_SAFE_NO_PAD.encode(self.auth),
            },
        })
    }
}

/// One push the receiver accepted.
#[derive(Debug, Clone)]
pub struct Push {
    pub device: String,
    pub payload: Value,
    pub ttl: Option<String>,
    pub topic: Option<String>,
}

#[derive(Default)]
struct Inner {
    devices: HashMap<String, (SecretKey, [u8; 16], Behaviour)>,
    pushes: Vec<Push>,
    attempts: HashMap<String, Vec<Instant>>,
    rejections: Vec<String>,
}

#[derive(Clone)]
struct Shared {
    origin: String,
    vapid_public_key: Arc<Mutex<String>>,
    inner: Arc<Mutex<Inner>>,
}

pub struct Receiver {
    shared: Shared,
}

impl Receiver {
    /// Starts on a free loopback port. `vapid_public_key` is the key the service publishes.
    pub async fn start(vapid_public_key: &str) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shared = Shared {
            origin: format!("http://{}", listener.local_addr().unwrap()),
            vapid_public_key: Arc::new(Mutex::new(vapid_public_key.to_owned())),
            inner: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/push/{device}", axum::routing::post(receive))
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { shared }
    }

    /// A new device whose push service behaves as `behaviour`.
    pub fn device(&self, behaviour: Behaviour) -> Device {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let secret = SecretKey::random(&mut rand::rngs::OsRng);
        let auth: [u8; 16] = rand::random();
        self.shared
            .inner
            .lock()
            .unwrap()
            .devices
            .insert(id.clone(), (secret.clone(), auth, behaviour));
        Device {
            endpoint: format!("{}/push/{id}", self.shared.origin),
            id,
            secret,
            auth,
        }
    }

    pub fn pushes_to(&self, device: &Device) -> Vec<Push> {
        let inner = self.shared.inner.lock().unwrap();
        inner
            .pushes
            .iter()
            .filter(|p| p.device == device.id)
            .cloned()
            .collect()
    }

    /// When each request for `device` came in.
    pub fn attempts(&self, device: &Device) -> Vec<Instant> {
        let inner = self.shared.inner.lock().unwrap();
        inner.attempts.get(&device.id).cloned().unwrap_or_default()
    }

    pub fn rejections(&self) -> Vec<String> {
        self.shared.inner.lock().unwrap().rejections.clone()
    }

    /// Waits up to 10 s for `count` pushes to `device`, and returns them.
    pub async fn wait_for(&self, device: &Device, count: usize) -> Vec<Push> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pushes = self.pushes_to(device);
            if pushes.len() >= count || Instant::now() > deadline {
                assert!(
                    self.rejections().is_empty(),
                    "the receiver rejected pushes: {:?}",
                    self.rejections()
                );
                return pushes;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until no request came in for 500 ms (at most 10 s).
    pub async fn settle(&self) {
        let quiet = Duration::from_millis(500);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let last = {
                let inner = self.shared.inner.lock().unwrap();
                inner.attempts.values().flatten().max().copied()
            };
            if last.is_none_or(|t| t.elapsed() >= quiet) || Instant::now() > deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(
    State(shared): State<Shared>,
    Path(device): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (secret, auth, answer) = {
        let mut inner = shared.inner.lock().unwrap();
        inner
            .attempts
            .entry(device.clone())
            .or_default()
            .push(Instant::now());
        let Some((secret, auth, behaviour)) = inner.devices.get_mut(&device) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let answer = match behaviour {
            Behaviour::Accept => None,
            Behaviour::Gone => Some((410, None)),
            Behaviour::Hang => Some((0, None)),
            Behaviour::Statuses(list) if list.is_empty() => None,
            Behaviour::Statuses(list) => Some(list.remove(0)),
        };
        (secret.clone(), *auth, answer)
    };
    let checked = check_vapid(&shared, &headers).and_then(|()| {
        let encoding = header(&headers, "content-encoding").unwrap_or_default();
        if encoding != "aes128gcm" {
            return Err(format!("Content-Encoding {encoding:?}"));
        }
        decrypt(&secret, &auth, &body)
    });
    let payload = match checked {
        Ok(plain) => plain,
        Err(reason) => {
            shared.inner.lock().unwrap().rejections.push(reason);
            return StatusCode::FORBIDDEN.into_response();
        }
    };
    match answer {
        Some((0, _)) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::REQUEST_TIMEOUT.into_response()
        }
        Some((status, retry_after)) => {
            let status = StatusCode::from_u16(status).unwrap();
            match retry_after {
                Some(secs) => (status, [("retry-after", secs.to_string())]).into_response(),
                None => status.into_response(),
            }
        }
        None => {
            let payload = match serde_json::from_slice(&payload) {
                Ok(v) => v,
                Err(e) => {
                    let reason = format!("payload is not JSON: {e}");
                    shared.inner.lock().unwrap().rejections.push(reason);
                    return StatusCode::BAD_REQUEST.into_response();
                }
            };
            shared.inner.lock().unwrap().pushes.push(Push {
                device,
                payload,
                ttl: header(&headers, "ttl"),
                topic: header(&headers, "topic"),
            });
            StatusCode::CREATED.into_response()
        }
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// RFC 8292: `Authorization: vapid t=<JWT>, k=<public key>`.
fn check_vapid(shared: &Shared, headers: &HeaderMap) -> Result<(), String> {
    let value = header(headers, "authorization").ok_or("no Authorization")?;
    let params = value
        .strip_prefix("vapid ")
        .ok_or_else(|| format!("not a vapid Authorization: {value}"))?;
    let mut t = None;
    let mut k = None;
    for part in params.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.to_owned()),
            Some(("k", v)) => k = Some(v.to_owned()),
            _ => {}
        }
    }
    let (t, k) = (t.ok_or("no t=")?, k.ok_or("no k=")?);
    if k != *shared.vapid_public_key.lock().unwrap() {
        return Err("k is not the published VAPID key".into());
    }
    let point = URL_SAFE_NO_PAD.decode(&k).map_err(|e| e.to_string())?;
    let key = VerifyingKey::from_sec1_bytes(&point).map_err(|e| e.to_string())?;
    let parts: Vec<&str> = t.split('.').collect();
    let [head, claims, signature] = parts[..] else {
        return Err("t is not a JWT".into());
    };
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|e| e.to_string())?;
    let signature = Signature::from_slice(&signature).map_err(|e| e.to_string())?;
    key.verify(format!("{head}.{claims}").as_bytes(), &signature)
        .map_err(|_| "bad ES256 signature".to_string())?;
    let head: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).unwrap_or_default())
        .map_err(|e| e.to_string())?;
    if head["alg"] != "ES256" {
        return Err(format!("alg {}", head["alg"]));
    }
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap_or_default())
        .map_err(|e| e.to_string())?;
    if claims["aud"] != shared.origin.as_str() {
        return Err(format!("aud {} is not {}", claims["aud"], shared.origin));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let exp = claims["exp"].as_u64().ok_or("no exp")?;
    if exp <= now || exp > now + 24 * 3600 {
        return Err(format!("exp {exp} is not within 24 h of {now}"));
    }
    let sub = claims["sub"].as_str().unwrap_or_default();
    if !(sub.starts_with("mailto:") || sub.starts_with("https://")) {
        return Err(format!("sub {sub:?}"));
    }
    Ok(())
}

/// RFC 8291 with RFC 8188's `aes128gcm` framing, one record.
fn decrypt(secret: &SecretKey, auth: &[u8; 16], body: &[u8]) -> Result<Vec<u8>, String> {
    if body.len() < 21 {
        return Err("body shorter than the aes128gcm header".into());
    }
    let salt = &body[..16];
    let record_size = u32::from_be_bytes(body[16..20].try_into().unwrap()) as usize;
    let id_len = body[20] as usize;
    let sender_key = body.get(21..21 + id_len).ok_or("truncated key id")?;
    let ciphertext = &body[21 + id_len..];
    if ciphertext.len() > record_size {
        return Err("more than one record".into());
    }
    let sender = PublicKey::from_sec1_bytes(sender_key).map_err(|e| e.to_string())?;
    let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), sender.as_affine());

    let receiver_point = secret.public_key().to_encoded_point(false);
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(receiver_point.as_bytes());
    key_info.extend_from_slice(sender_key);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .map_err(|e| e.to_string())?;
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .map_err(|e| e.to_string())?;
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .map_err(|e| e.to_string())?;
    let mut plain = Aes128Gcm::new_from_slice(&cek)
        .map_err(|e| e.to_string())?
        .decrypt(&Nonce::from(nonce), ciphertext)
        .map_err(|_| "the body does not decrypt with the device's keys".to_string())?;
    // Padding: the last record ends with 0x02 then zeros.
    while plain.last() == Some(&0) {
        plain.pop();
    }
    if plain.pop() != Some(2) {
        return Err("no last-record delimiter".into());
    }
    Ok(plain)
}
