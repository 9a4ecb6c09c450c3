//! Message search (`GET /api/search/messages`): what each member finds across their rooms,
//! edits found by their new text, deletes and rooms left never found, pages, and every refusal
//! (the search rate included).

use std::time::Duration;

use axum::http::{Method, StatusCode};
use rate_limit::Rule;
use serde_json::{Value, json};
use socket_service::Limits;

use crate::support::{App, User, client_id, http_error, ok, send};

async fn search(app: &App, user: &User, query: &str) -> (StatusCode, Value) {
    app.http(
        Method::GET,
        &format!("/api/search/messages?{query}"),
        Some(user),
        None,
    )
    .await
}

/// The bodies found for `q` (URL-encoded by the caller), newest first.
async fn bodies(app: &App, user: &User, query: &str) -> Vec<String> {
    let (status, body) = search(app, user, query).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["body"].as_str().expect("body").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_find_their_rooms_messages_by_word_starts() {
    let app = App::new().await;
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let ours = app.group(&alice, &[&bob]).await;
    let theirs = app.group(&carol, &[]).await;
    let mut a = app.connect(&alice).await;
    let mut c = app.connect(&carol).await;
    send(&mut a, &ours, "Café at noon?").await;
    send(&mut a, &ours, "東京タワーへ行く").await;
    let reply_to = send(&mut a, &ours, "the cafeteria is closed").await;
    send(&mut c, &theirs, "café for carol only").await;
    let answer = a
        .call(
            "message:send",
            json!({"room_id": ours, "client_id": client_id(), "body": "what about the CAFE downstairs", "reply_to": reply_to["id"]}),
        )
        .await;
    ok(&answer);

    assert_eq!(
        bodies(&app, &bob, "q=caf").await,
        [
            "what about the CAFE downstairs",
            "the cafeteria is closed",
            "Café at noon?"
        ]
    );
    assert_eq!(bodies(&app, &carol, "q=caf").await, ["café for carol only"]);
    assert_eq!(
        bodies(&app, &bob, "q=%E4%BA%AC%E3%82%BF").await,
        ["東京タワーへ行く"],
        "京タ inside a run"
    );
    assert_eq!(bodies(&app, &bob, "q=noon%20caf").await, ["Café at noon?"]);
    assert!(bodies(&app, &bob, "q=afe").await.is_empty());

    // A hit is a message as history serves it, reply preview included.
    let (_, body) = search(&app, &bob, "q=downstairs").await;
    let hit = &body["messages"][0];
    assert_eq!(hit["room_id"], ours.as_str());
    assert_eq!(hit["sender_id"], alice.id.as_str());
    assert_eq!(hit["reply_preview"]["body"], "the cafeteria is closed");
    assert_eq!(body["next"], Value::Null);

    // One room of the caller's: only that one; another's room is not found at all.
    assert_eq!(
        bodies(&app, &carol, &format!("q=caf&room_id={theirs}")).await,
        ["café for carol only"]
    );
    let refused = search(&app, &bob, &format!("q=caf&room_id={theirs}")).await;
    http_error(&refused, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_deletes_and_leaving_change_what_is_found() {
    let app = App::new().await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.group(&alice, &[&bob]).await;
    let mut a = app.connect(&alice).await;
    let first = send(&mut a, &room, "meet at the station").await;
    let second = send(&mut a, &room, "station is closed").await;

    let edited = a
        .call(
            "message:edit",
            json!({"room_id": room, "message_id": first["id"], "body": "meet at the harbour"}),
        )
        .await;
    ok(&edited);
    assert_eq!(bodies(&app, &bob, "q=harb").await, ["meet at the harbour"]);
    assert_eq!(bodies(&app, &bob, "q=station").await, ["station is closed"]);

    let deleted = a
        .call(
            "message:delete",
            json!({"room_id": room, "message_id": second["id"]}),
        )
        .await;
    ok(&deleted);
    assert!(bodies(&app, &bob, "q=station").await.is_empty());

    // Bob leaves: the room's messages are no longer his to find.
    let (status, _) = app
        .http(
            Method::DELETE,
            &format!("/api/rooms/{room}/members/{}", bob.id),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(bodies(&app, &bob, "q=harb").await.is_empty());
    assert_eq!(
        bodies(&app, &alice, "q=harb").await,
        ["meet at the harbour"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_next_newest_first() {
    let app = App::new().await;
    let alice = app.user("alice").await;
    let room = app.group(&alice, &[]).await;
    let mut a = app.connect(&alice).await;
    for i in 1..=12 {
        send(&mut a, &room, &format!("report number {i}")).await;
    }
    let mut seen = Vec::new();
    let mut query = "q=rep&limit=5".to_string();
    loop {
        let (status, body) = search(&app, &alice, &query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = body["messages"].as_array().unwrap();
        assert!(page.len() <= 5);
        seen.extend(page.iter().map(|m| m["seq"].as_u64().unwrap()));
        match body["next"].as_str() {
            Some(next) => query = format!("q=rep&limit=5&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen, (1..=12).rev().collect::<Vec<u64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_are_refused_with_the_reason() {
    let app = App::new().await;
    let alice = app.user("alice").await;
    let long = "a".repeat(201);
    let many = vec!["w"; 17].join("%20");
    for query in [
        "",
        "q=",
        "q=%20%20",
        "q=%21%3F",
        &format!("q={long}"),
        &format!("q={many}"),
        "q=a&limit=0",
        "q=a&limit=51",
        "q=a&limit=x",
        "q=a&before=nonsense",
    ] {
        let answer = search(&app, &alice, query).await;
        http_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
    }
    let anonymous = app
        .http(Method::GET, "/api/search/messages?q=a", None, None)
        .await;
    http_error(&anonymous, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searching_past_the_search_rate_is_refused_with_when_to_retry() {
    let app = App::with_limits(Limits {
        search_rate: Rule::new(3, Duration::from_secs(60)),
        ..Limits::default()
    })
    .await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    for _ in 0..3 {
        assert_eq!(search(&app, &alice, "q=hello").await.0, StatusCode::OK);
    }
    let refused = search(&app, &alice, "q=hello").await;
    http_error(&refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(refused.1["error"]["retry_after_ms"].as_u64().unwrap() > 0);
    // Per user: another one searches on.
    assert_eq!(search(&app, &bob, "q=hello").await.0, StatusCode::OK);
}
