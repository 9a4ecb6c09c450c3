//! `App::spawn`: a real auth-service on `127.0.0.1:0` with typed request helpers.

use std::net::SocketAddr;
use std::sync::Arc;

use auth_service::{AppState, Config, Settings};
use reqwest::StatusCode;
use serde_json::{Value, json};
use service_kit::config::{Backends, Secret};
use service_kit::ops::Check;
use store::AuthStore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    /// The distributed composition: `auth_service::run` with MongoDB and Redis.
    Mongo,
    /// The standalone composition: SQLite file and in-process limiter.
    Sqlite,
}

pub struct App {
    pub base: String,
    pub store: Arc<dyn AuthStore>,
    client: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for App {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set; run scripts/test, which starts the test servers")
    })
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

impl App {
    pub async fn spawn(backend: Backend) -> App {
        let keys = token::KeyPair::generate();
        match backend {
            Backend::Mongo => App::distributed(&unique("auth_test"), &keys, None).await,
            Backend::Sqlite => App::standalone(&keys).await,
        }
    }

    /// `auth_service::run` on MongoDB database `database` (several instances may share one,
    /// as replicas do), signing with `keys` and publishing `published` (PEM) beside it.
    pub async fn distributed(
        database: &str,
        keys: &token::KeyPair,
        published: Option<String>,
    ) -> App {
        service_kit::telemetry::init_for_tests();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let config = Config {
            listen: listener.local_addr().unwrap(),
            backends: Backends {
                mongodb_url: Secret::new(env("CHAT_TEST_MONGODB_URL")),
                mongodb_database: database.to_string(),
                redis_url: Secret::new(env("CHAT_TEST_REDIS_URL")),
                redis_prefix: format!("{}:", unique("auth_test")),
                amqp_url: Secret::default(),
                amqp_prefix: String::new(),
            },
            jwt_private_key: Some(Secret::new(keys.private_pem())),
            jwt_published_keys: published.map(Secret::new),
            settings: Settings::default(),
        };
        tokio::spawn(auth_service::run(config, listener, shutdown.clone()));
        let store = Arc::new(
            store::MongoStore::connect(&env("CHAT_TEST_MONGODB_URL"), database)
                .await
                .unwrap(),
        );
        App::serving(base, store, shutdown).await
    }

    async fn standalone(keys: &token::KeyPair) -> App {
        service_kit::telemetry::init_for_tests();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let path = std::env::temp_dir()
            .join(unique("auth_test"))
            .join("chat.db");
        let store: Arc<dyn AuthStore> = Arc::new(store::SqliteStore::open(&path).unwrap());
        let limiter = Arc::new(rate_limit::LocalLimiter::new());
        let state = AppState::new(store.clone(), limiter, keys, Settings::default()).unwrap();
        let checks: Vec<Arc<dyn Check>> =
            vec![Arc::new(auth_service::state::StoreCheck(store.clone()))];
        let app = auth_service::router(state)
            .merge(service_kit::ops::router(checks))
            .fallback(service_kit::http::not_found);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
        });
        App::serving(base, store, shutdown).await
    }

    async fn serving(base: String, store: Arc<dyn AuthStore>, shutdown: CancellationToken) -> App {
        let app = App {
            base,
            store,
            client: reqwest::Client::new(),
            shutdown,
        };
        app.wait_until_serving().await;
        app
    }

    async fn wait_until_serving(&self) {
        for _ in 0..100 {
            if let Ok(r) = self
                .client
                .get(format!("{}/healthz", self.base))
                .send()
                .await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("auth-service did not start");
    }

    /// Every answer passes through here: no request in the suite may get a 5xx.
    async fn parse(response: reqwest::Response) -> (StatusCode, Value) {
        let status = response.status();
        assert!(!status.is_server_error(), "server error {status}");
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, body)
    }

    pub async fn post_raw(&self, path: &str, body: Value) -> reqwest::Response {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(!response.status().is_server_error());
        response
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        Self::parse(self.post_raw(path, body).await).await
    }

    pub async fn post_text(
        &self,
        path: &str,
        body: &str,
        content_type: &str,
    ) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        Self::parse(response).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Self::parse(request.send().await.unwrap()).await
    }

    pub async fn register(&self, username: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/api/auth/register",
            json!({"username": username, "password": password}),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/api/auth/login",
            json!({"username": username, "password": password}),
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        self.post("/api/auth/refresh", json!({"refresh_token": refresh_token}))
            .await
    }
}
