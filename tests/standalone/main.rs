//! The standalone binary as a newcomer runs it: a real process on a free port with its own
//! data directory, driven over HTTP.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    /// Starts `chat` on a free port over `data_dir`, logging at debug level to a file.
    async fn start(data_dir: &Path) -> Server {
        Self::start_with(data_dir, &[]).await
    }

    /// [`Server::start`] with extra environment variables.
    async fn start_with(data_dir: &Path, env: &[(&str, &Path)]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = data_dir.with_extension(format!("{port}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_chat"))
            .env("CHAT_LISTEN", format!("127.0.0.1:{port}"))
            .env("CHAT_DATA_DIR", data_dir)
            .env("RUST_LOG", "debug")
            .envs(env.iter().copied())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::from(
                std::fs::File::create(log.with_extension("err")).unwrap(),
            ))
            .spawn()
            .unwrap();
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        for _ in 0..200 {
            if reqwest::get(format!("{}/healthz", server.base))
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the standalone server did not start");
    }

    /// SIGTERM, then wait for a clean exit.
    fn stop(mut self) -> String {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the server exited with {status}");
        let mut logs = String::new();
        for path in [self.log.clone(), self.log.with_extension("err")] {
            std::fs::File::open(path)
                .unwrap()
                .read_to_string(&mut logs)
                .unwrap();
        }
        logs
    }
}

/// A test that fails before `stop` still ends its server.
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Server {
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(status < 500, "{path}: {status}");
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn fresh_dir() -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("chat-standalone-{}", std::process::id()))
        .join(format!(
            "{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("data")
}

#[tokio::test]
async fn accounts_survive_a_restart_and_secrets_never_reach_the_logs() {
    let data = fresh_dir();
    let password = "s3cret-Passw0rd!";
    let server = Server::start(&data).await;
    let (status, session) = server
        .post(
            "/api/auth/register",
            json!({"username": "Newcomer", "password": password}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, login) = server
        .post(
            "/api/auth/login",
            json!({"username": "newcomer", "password": password}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, refreshed) = server
        .post(
            "/api/auth/refresh",
            json!({"refresh_token": login["refresh_token"]}),
        )
        .await;
    assert_eq!(status, 200);
    let access = refreshed["access_token"].as_str().unwrap().to_string();
    assert_eq!(server.get("/api/auth/me", &access).await.0, 200);
    let (status, _) = server
        .post(
            "/api/auth/logout",
            json!({"refresh_token": session["refresh_token"]}),
        )
        .await;
    assert_eq!(status, 204);
    let (status, vapid) = server.get("/api/push/vapid-public-key", "").await;
    assert_eq!(status, 200);
    assert!(vapid["public_key"].as_str().is_some_and(|k| k.len() == 87));
    let first_logs = server.stop();

    // The same data directory: same keys, same accounts.
    let server = Server::start(&data).await;
    let (status, me) = server.get("/api/auth/me", &access).await;
    assert_eq!(
        status, 200,
        "an access token survives the restart (same key)"
    );
    assert_eq!(me["user"]["username"], "newcomer");
    let (status, _) = server
        .post(
            "/api/auth/refresh",
            json!({"refresh_token": refreshed["refresh_token"]}),
        )
        .await;
    assert_eq!(status, 200, "the refresh token survives the restart");
    let (status, _) = server
        .post(
            "/api/auth/login",
            json!({"username": "NEWCOMER", "password": password}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, vapid_again) = server.get("/api/push/vapid-public-key", "").await;
    assert_eq!(
        vapid_again, vapid,
        "the VAPID key survives the restart, so browsers' subscriptions stay valid"
    );
    let logs = first_logs + &server.stop();

    let private_pem = std::fs::read_to_string(data.join("keys/jwt-ed25519-private.pem")).unwrap();
    let private_body: String = private_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let vapid_pem = std::fs::read_to_string(data.join("keys/vapid-p256-private.pem")).unwrap();
    let vapid_body: String = vapid_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(logs.contains("user registered"), "debug logs were captured");
    for secret in [
        password,
        session["refresh_token"].as_str().unwrap(),
        session["access_token"].as_str().unwrap(),
        login["refresh_token"].as_str().unwrap(),
        refreshed["refresh_token"].as_str().unwrap(),
        &access,
        &private_body,
        &vapid_body,
    ] {
        assert!(!logs.contains(secret), "a secret appeared in the logs");
    }
}

/// A plain GET: status, `content-type`, `cache-control`, body.
async fn fetch(url: String) -> (u16, String, String, String) {
    let response = reqwest::get(url).await.unwrap();
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (content_type, cache) = (header("content-type"), header("cache-control"));
    let status = response.status().as_u16();
    (status, content_type, cache, response.text().await.unwrap())
}

#[tokio::test]
async fn the_web_app_is_served_at_the_root_and_api_paths_stay_json() {
    let data = fresh_dir();
    let web = data.with_file_name("web");
    std::fs::create_dir_all(web.join("assets")).unwrap();
    std::fs::write(web.join("index.html"), "<!doctype html><title>app</title>").unwrap();
    std::fs::write(web.join("assets/app-1a2b.js"), "console.log(1)").unwrap();
    let server = Server::start_with(&data, &[("CHAT_WEB_DIR", &web)]).await;

    let (status, content_type, cache, body) = fetch(format!("{}/", server.base)).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "<!doctype html><title>app</title>")
    );
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert_eq!(cache, "no-cache", "a new build is picked up at once");
    // The app's own routes load the app.
    let (status, _, _, body) = fetch(format!("{}/rooms/42?x=1", server.base)).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "<!doctype html><title>app</title>")
    );
    let (status, content_type, cache, body) =
        fetch(format!("{}/assets/app-1a2b.js", server.base)).await;
    assert_eq!((status, body.as_str()), (200, "console.log(1)"));
    assert!(content_type.contains("javascript"), "{content_type}");
    assert!(cache.contains("immutable"), "{cache}");
    // Unknown API paths are still the contract's JSON 404, and the API still works.
    for path in ["/api", "/api/nothing/here"] {
        let (status, content_type, _, body) = fetch(format!("{}{path}", server.base)).await;
        assert_eq!(status, 404, "{path}");
        assert!(content_type.starts_with("application/json"), "{path}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    let (status, _) = server
        .post(
            "/api/auth/register",
            json!({"username": "webby", "password": "long enough"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _, _, _) = fetch(format!("{}/healthz", server.base)).await;
    assert_eq!(status, 200);
    server.stop();
}

#[tokio::test]
async fn without_a_built_app_the_root_says_how_to_build_it() {
    let data = fresh_dir();
    let empty = data.with_file_name("no-web");
    std::fs::create_dir_all(&empty).unwrap();
    let server = Server::start_with(&data, &[("CHAT_WEB_DIR", &empty)]).await;
    let (status, content_type, _, body) = fetch(format!("{}/", server.base)).await;
    assert_eq!(status, 404);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(
        body.contains("not built") && body.contains("scripts/setup"),
        "{body}"
    );
    let (status, _, _, body) = fetch(format!("{}/api/nothing", server.base)).await;
    assert_eq!(status, 404);
    assert!(body.contains("not_found"), "{body}");
    server.stop();
}

async fn post_as(server: &Server, path: &str, token: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", server.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!(status < 500, "{path}: {status}");
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn uploaded_files_and_their_urls_survive_a_restart() {
    let data = fresh_dir();
    let server = Server::start(&data).await;
    let (status, session) = server
        .post(
            "/api/auth/register",
            json!({"username": "uploader", "password": "long enough"}),
        )
        .await;
    assert_eq!(status, 201);
    let token = session["access_token"].as_str().unwrap().to_string();
    let (status, room) = post_as(
        &server,
        "/api/rooms",
        &token,
        json!({"name": "pics", "members": []}),
    )
    .await;
    assert_eq!(status, 201, "{room}");
    let bytes = b"plain text that outlives the process\n".to_vec();
    let (status, created) = post_as(
        &server,
        "/api/files",
        &token,
        json!({"room_id": room["id"], "filename": "note.txt", "content_type": "text/plain", "size": bytes.len()}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    // The standalone server's URLs are relative to itself.
    let upload_url = created["upload"]["url"].as_str().unwrap();
    assert!(upload_url.starts_with("/api/objects/"), "{upload_url}");
    let uploaded = reqwest::Client::new()
        .put(format!("{}{upload_url}", server.base))
        .header("content-type", "text/plain")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 200);
    let id = created["file"]["id"].as_str().unwrap();
    let (status, _) = post_as(
        &server,
        &format!("/api/files/{id}/complete"),
        &token,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    let (_, shown) = server.get(&format!("/api/files/{id}"), &token).await;
    let old_url = shown["download_url"].as_str().unwrap().to_string();
    server.stop();

    let server = Server::start(&data).await;
    let (status, shown) = server.get(&format!("/api/files/{id}"), &token).await;
    assert_eq!(status, 200);
    assert_eq!(shown["file"]["status"], "ready");
    for url in [shown["download_url"].as_str().unwrap(), &old_url] {
        let response = reqwest::get(format!("{}{url}", server.base)).await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }
    server.stop();
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_is_readable_by_the_servers_user_only() {
    use std::os::unix::fs::PermissionsExt;
    // A directory made before, open to everyone, with a database file to match.
    let loose = fresh_dir();
    std::fs::create_dir_all(&loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(loose.join("chat.db"), b"").unwrap();
    std::fs::set_permissions(
        loose.join("chat.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    // And one the server makes.
    let fresh = fresh_dir();
    let mut servers = Vec::new();
    for dir in [&loose, &fresh] {
        let server = Server::start(dir).await;
        let (status, _) = server
            .post(
                "/api/auth/register",
                json!({"username": "private", "password": "long enough secret"}),
            )
            .await;
        assert_eq!(status, 201);
        servers.push((dir, server));
    }
    for (dir, server) in servers {
        for sub in ["", "keys", "files"] {
            assert_eq!(mode(&dir.join(sub)), 0o700, "{}/{sub}", dir.display());
        }
        for file in ["chat.db", "chat.db-wal", "keys/jwt-ed25519-private.pem"] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{}/{file}", dir.display());
        }
        server.stop();
    }
}

/// The security headers of a GET of `url`, by name.
async fn security_headers(url: String) -> std::collections::BTreeMap<String, String> {
    let response = reqwest::get(url).await.unwrap();
    [
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
        "referrer-policy",
    ]
    .into_iter()
    .map(|name| {
        let value = response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (name.to_string(), value)
    })
    .collect()
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let data = fresh_dir();
    let web = data.with_file_name("web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("index.html"), "<!doctype html><title>app</title>").unwrap();
    let server = Server::start_with(&data, &[("CHAT_WEB_DIR", &web)]).await;

    // The app: its own scripts, styles and connections, never framed.
    for path in ["/", "/rooms/42"] {
        let headers = security_headers(format!("{}{path}", server.base)).await;
        let csp = &headers["content-security-policy"];
        for part in [
            "default-src 'self'",
            "script-src 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
    }
    // The API, its errors and the operations endpoints: nothing in them may run.
    for path in ["/api/auth/jwks", "/api/rooms", "/api/nothing", "/healthz"] {
        let headers = security_headers(format!("{}{path}", server.base)).await;
        assert_eq!(
            headers["content-security-policy"], "default-src 'none'; frame-ancestors 'none'",
            "{path}"
        );
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
    }
    server.stop();
}

/// The resident memory of process `pid`, in KiB (Linux).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .expect("VmRSS")
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_burst_of_registrations_leaves_memory_bounded() {
    let data = fresh_dir();
    let server = Server::start(&data).await;
    let before = rss_kib(server.child.id());
    let client = reqwest::Client::new();
    // 160 accounts, 40 at a time: each a 19 MiB Argon2id hash.
    for wave in 0..4 {
        let registrations = (0..40).map(|i| {
            let client = client.clone();
            let url = format!("{}/api/auth/register", server.base);
            async move {
                let body = json!({"username": format!("burst{wave}x{i}"), "password": "long enough secret"});
                client.post(url).json(&body).send().await.unwrap().status().as_u16()
            }
        });
        let statuses = futures_util::future::join_all(registrations).await;
        assert!(statuses.iter().all(|&s| s == 201), "{statuses:?}");
    }
    let grown_mib = rss_kib(server.child.id()).saturating_sub(before) / 1024;
    // Four hashes at once (CHAT_MAX_CONCURRENT_HASHES) of 19 MiB each, kept for the next ones,
    // and room for the rest; before the buffers were kept, this burst grew it by about 800 MiB.
    assert!(grown_mib < 150, "grew by {grown_mib} MiB");
    server.stop();
}
