//! The distributed binary's composition: `file_service::run` on MongoDB and S3, its
//! operations endpoints, and one file's way through it.

use std::time::Duration;

use file_service::{Config, S3Settings, Settings};
use models::Timestamp;
use models::chat::RoomKind;
use reqwest::StatusCode;
use serde_json::{Value, json};
use service_kit::config::{Backends, Secret};
use store::{ChatStore, MongoStore, RoomRecord};
use token::{Issuer, KeyPair};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::support::{env, png, s3_config, unique_bucket, upload};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_files_on_mongodb_and_s3() {
    service_kit::telemetry::init_for_tests();
    let keys = KeyPair::generate();
    let database = format!("files_test_{}", uuid::Uuid::now_v7().simple());
    let bucket = unique_bucket();
    let s3 = s3_config(bucket.clone());
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        backends: Backends {
            mongodb_url: Secret::new(env("CHAT_TEST_MONGODB_URL")),
            mongodb_database: database.clone(),
            redis_url: Secret::default(),
            redis_prefix: String::new(),
            amqp_url: Secret::default(),
            amqp_prefix: String::new(),
        },
        tokens: service_kit::config::TokenConfig::of_public_key(keys.public_pem()),
        s3: S3Settings {
            endpoint: s3.endpoint.clone(),
            public_endpoint: None,
            region: s3.region.clone(),
            bucket,
            access_key_id: Secret::new(s3.access_key_id.clone()),
            secret_access_key: Secret::new(s3.secret_access_key.clone()),
            force_path_style: true,
            create_bucket: true,
        },
        settings: Settings::default(),
    };
    let listener = TcpListener::bind(config.listen).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(file_service::run(config, listener, shutdown.clone()));
    let client = reqwest::Client::new();
    let mut ready = None;
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            ready = Some(r.status());
            if r.status() == StatusCode::OK {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ready, Some(StatusCode::OK));
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    // A room in the same database, and one file through it.
    let mongo = MongoStore::connect(&env("CHAT_TEST_MONGODB_URL"), &database)
        .await
        .unwrap();
    let now = Timestamp::now();
    let room = uuid::Uuid::now_v7().simple().to_string();
    mongo
        .create_room(&RoomRecord {
            id: room.clone(),
            kind: RoomKind::Group,
            name: "r".into(),
            created_by: "alice".into(),
            created_at: now,
            direct_key: None,
            members: vec!["alice".into()],
            last_seq: 0,
            rev: 0,
            last_activity: now,
        })
        .await
        .unwrap();
    let issuer = Issuer::new(
        &keys,
        token::DEFAULT_ISSUER,
        token::DEFAULT_AUDIENCE,
        Duration::from_secs(600),
    );
    let token = issuer.issue("alice", "alice");
    let bytes = png(4096);
    let created: Value = client
        .post(format!("{base}/api/files"))
        .bearer_auth(&token)
        .json(&json!({"room_id": room, "filename": "a.png", "content_type": "image/png", "size": bytes.len()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(upload(&created["upload"], bytes.clone(), None).await.0, 200);
    let id = created["file"]["id"].as_str().unwrap();
    let completed = client
        .post(format!("{base}/api/files/{id}/complete"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(completed.status(), StatusCode::OK);
    let shown: Value = client
        .get(format!("{base}/api/files/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["file"]["status"], "ready");
    let downloaded = reqwest::get(shown["download_url"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(downloaded.as_ref() == bytes.as_slice());

    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("chat_files_completed_total"), "{metrics}");
    let unknown = client.get(format!("{base}/nowhere")).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    shutdown.cancel();
    server.await.unwrap().unwrap();
    let _ = mongodb::Client::with_uri_str(env("CHAT_TEST_MONGODB_URL"))
        .await
        .unwrap()
        .database(&database)
        .drop()
        .await;
}
