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
    let logs = first_logs + &server.stop();

    let private_pem = std::fs::read_to_string(data.join("keys/jwt-ed25519-private.pem")).unwrap();
    let private_body: String = private_pem
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
    ] {
        assert!(!logs.contains(secret), "a secret appeared in the logs");
    }
}
