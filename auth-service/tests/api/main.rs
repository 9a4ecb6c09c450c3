//! auth-service through its HTTP API, against both stores: the distributed composition
//! (MongoDB-wire server + Redis, through `auth_service::run`) and the standalone one (SQLite
//! file + in-process limiter). Every case runs on both.

mod helpers;
mod rotation;

use helpers::{App, Backend};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

async fn username_taken_in_any_case(app: App) {
    let first = app.register("Alice", PASSWORD).await;
    assert_eq!(first.0, StatusCode::CREATED);
    for name in ["alice", "ALICE", "aLiCe"] {
        let (status, body) = app.register(name, PASSWORD).await;
        assert_eq!(status, StatusCode::CONFLICT, "{name}");
        assert_eq!(body["error"]["code"], "username_taken");
    }
}

async fn session_shape_and_me(app: App) {
    let (status, s) = app.register("Bob.B-1", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(s["token_type"], "Bearer");
    assert_eq!(s["expires_in"], 900);
    assert_eq!(s["user"]["username"], "bob.b-1");
    assert_eq!(s["user"]["display_name"], "Bob.B-1");
    assert!(s["user"]["created_at"].as_str().unwrap().ends_with('Z'));
    let (status, me) = app.get("/api/auth/me", s["access_token"].as_str()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"], s["user"]);
    let (status, body) = app.get("/api/auth/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = app.get("/api/auth/me", Some("garbage")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn wrong_password_and_unknown_user_look_the_same(app: App) {
    app.register("carol", PASSWORD).await;
    let wrong = app.login("carol", "not the password").await;
    let unknown = app.login("nobody-here", "not the password").await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong, unknown);
    assert_eq!(wrong.1["error"]["code"], "invalid_credentials");
    let (status, ok) = app.login("CAROL", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ok["user"]["username"], "carol");
}

async fn repeated_failures_are_throttled(app: App) {
    app.register("dave", PASSWORD).await;
    for _ in 0..5 {
        assert_eq!(
            app.login("dave", "wrong password").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let response = app
        .post_raw(
            "/api/auth/login",
            json!({"username": "dave", "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Another user from the same address is not locked out by dave's failures.
    app.register("erin", PASSWORD).await;
    assert_eq!(app.login("erin", PASSWORD).await.0, StatusCode::OK);
}

async fn many_usernames_from_one_address_are_throttled(app: App) {
    let mut last = StatusCode::OK;
    for i in 0..40 {
        last = app.login(&format!("ghost{i}"), "wrong password").await.0;
        if last == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

async fn refresh_rotates_and_reuse_revokes_the_family(app: App) {
    let (_, s1) = app.register("frank", PASSWORD).await;
    let r1 = s1["refresh_token"].as_str().unwrap().to_string();
    let (status, s2) = app.refresh(&r1).await;
    assert_eq!(status, StatusCode::OK);
    let r2 = s2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    assert_eq!(
        app.get("/api/auth/me", s2["access_token"].as_str()).await.0,
        StatusCode::OK
    );
    // r1 again: reuse. Refused, and r2 (the family's newest) dies with it.
    let (status, body) = app.refresh(&r1).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(app.refresh(&r2).await.0, StatusCode::UNAUTHORIZED);
    // Another login of the same user is unaffected.
    let (_, other) = app.login("frank", PASSWORD).await;
    assert_eq!(
        app.refresh(other["refresh_token"].as_str().unwrap())
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        app.refresh("made-up-token").await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn logout_revokes_the_token(app: App) {
    let (_, s) = app.register("grace", PASSWORD).await;
    let r = s["refresh_token"].as_str().unwrap();
    let response = app
        .post_raw("/api/auth/logout", json!({"refresh_token": r}))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.refresh(r).await.0, StatusCode::UNAUTHORIZED);
}

async fn user_search_by_prefix(app: App) {
    let (_, s) = app.register("heidi", PASSWORD).await;
    app.register("helen", PASSWORD).await;
    app.register("bheidi", PASSWORD).await;
    let token = s["access_token"].as_str();
    let (status, body) = app.get("/api/users?q=He", token).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["heidi", "helen"]);
    assert!(body["users"][0].get("password_hash").is_none());
    for i in 0..25 {
        app.register(&format!("zed{i:02}"), PASSWORD).await;
    }
    let (_, body) = app.get("/api/users?q=zed", token).await;
    assert_eq!(body["users"].as_array().unwrap().len(), 20);
    assert_eq!(
        app.get("/api/users?q=he", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = app.get("/api/users", token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_request");
}

async fn user_by_id(app: App) {
    let (_, ivy) = app.register("ivy", PASSWORD).await;
    let (_, jon) = app.register("jon", PASSWORD).await;
    let token = ivy["access_token"].as_str();
    let id = jon["user"]["id"].as_str().unwrap();
    let (status, body) = app.get(&format!("/api/users/{id}"), token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"], jon["user"]);
    assert!(body["user"].get("password_hash").is_none());
    let (status, body) = app.get("/api/users/no-such-user", token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(
        app.get(&format!("/api/users/{id}"), None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn bad_bodies_get_the_error_shape(app: App) {
    let cases: Vec<(&str, &str, StatusCode)> = vec![
        ("/api/auth/register", "{not json", StatusCode::BAD_REQUEST),
        (
            "/api/auth/register",
            r#"{"username":"ivan"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/auth/register",
            r#"{"username":7,"password":"x"}"#,
            StatusCode::BAD_REQUEST,
        ),
        ("/api/auth/register", r#"[]"#, StatusCode::BAD_REQUEST),
        (
            "/api/auth/register",
            r#"{"username":"iv","password":"long enough"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/auth/register",
            r#"{"username":"ivan","password":"short"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/auth/register",
            r#"{"username":"iv an","password":"long enough"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/auth/register",
            r#"{"username":"ivan","password":"long enough","display_name":"  "}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/auth/register",
            r#"{"username":"ivan","password":"long enough","display_name":"Iv\u202Enav"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/auth/register",
            r#"{"username":"ivan","password":"long enough","display_name":"\u200B"}"#,
            StatusCode::BAD_REQUEST,
        ),
        ("/api/auth/login", "", StatusCode::BAD_REQUEST),
        (
            "/api/auth/login",
            r#"{"username":"ivan","password":null}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/auth/refresh",
            r#"{"refresh_token":[1]}"#,
            StatusCode::BAD_REQUEST,
        ),
        ("/api/auth/logout", "{}", StatusCode::BAD_REQUEST),
    ];
    for (path, body, expected) in cases {
        let (status, json) = app.post_text(path, body, "application/json").await;
        assert_eq!(status, expected, "{path} {body}");
        assert_eq!(json["error"]["code"], "invalid_request", "{path} {body}");
        assert!(!json["error"]["message"].as_str().unwrap().is_empty());
    }
    let huge = format!(
        r#"{{"username":"ivan","password":"{}"}}"#,
        "x".repeat(100_000)
    );
    let (status, json) = app
        .post_text("/api/auth/register", &huge, "application/json")
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json["error"]["code"], "too_large");
    let (status, json) = app
        .post_text(
            "/api/auth/login",
            r#"{"username":"a","password":"b"}"#,
            "text/plain",
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(json["error"]["code"], "unsupported_media_type");
    let (status, json) = app.get("/api/nowhere", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json["error"]["code"], "not_found");
}

async fn passwords_are_stored_as_argon2id(app: App) {
    app.register("judy", PASSWORD).await;
    let record = app.store.user_by_username("judy").await.unwrap().unwrap();
    assert!(
        record
            .password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
    );
    assert!(!record.password_hash.contains(PASSWORD));
}

async fn operations_endpoints(app: App) {
    assert_eq!(app.get("/healthz", None).await.0, StatusCode::OK);
    let (status, body) = app.get("/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let response = reqwest::get(format!("{}/metrics", app.base)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $case() { super::$case(super::App::spawn(super::Backend::Sqlite).await).await } )* }
        mod mongo { $( #[tokio::test] async fn $case() { super::$case(super::App::spawn(super::Backend::Mongo).await).await } )* }
    };
}

on_both_backends!(
    username_taken_in_any_case,
    session_shape_and_me,
    wrong_password_and_unknown_user_look_the_same,
    repeated_failures_are_throttled,
    many_usernames_from_one_address_are_throttled,
    refresh_rotates_and_reuse_revokes_the_family,
    logout_revokes_the_token,
    user_search_by_prefix,
    user_by_id,
    bad_bodies_get_the_error_shape,
    passwords_are_stored_as_argon2id,
    operations_endpoints,
);
