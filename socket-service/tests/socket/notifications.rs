//! `PUT /api/rooms/{id}/notifications`: the caller's own setting, shown in their `Room`.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{App, http_error};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_member_sets_their_own_notifications() {
    let app = App::new().await;
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let room = app.group(&alice, &[&bob]).await;
    let path = format!("/api/rooms/{room}/notifications");
    let room_path = format!("/api/rooms/{room}");

    let (status, body) = app.http(Method::GET, &room_path, Some(&bob), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["notifications"],
        json!({"level": "all", "muted_until": null}),
        "all until set"
    );

    let (status, body) = app
        .http(
            Method::PUT,
            &path,
            Some(&bob),
            Some(json!({"level": "mentions"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"notifications": {"level": "mentions", "muted_until": null}})
    );
    let until = "2031-01-02T03:04:05.000Z";
    let (status, body) = app
        .http(
            Method::PUT,
            &path,
            Some(&alice),
            Some(json!({"level": "all", "muted_until": until})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["notifications"]["muted_until"], json!(until));

    // Each sees their own, in the room and in the list.
    let (_, body) = app.http(Method::GET, &room_path, Some(&bob), None).await;
    assert_eq!(body["notifications"]["level"], json!("mentions"));
    let (_, body) = app
        .http(Method::GET, "/api/rooms", Some(&alice), None)
        .await;
    assert_eq!(
        body["rooms"][0]["notifications"],
        json!({"level": "all", "muted_until": until})
    );

    // Refusals: a level that is none of the three, a bad time, no body; a non-member.
    for bad in [
        json!({"level": "some"}),
        json!({"level": "all", "muted_until": "tomorrow"}),
        json!({}),
        json!(["mentions"]),
    ] {
        let answer = app.http(Method::PUT, &path, Some(&bob), Some(bad)).await;
        http_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
    }
    let answer = app
        .http(
            Method::PUT,
            &path,
            Some(&carol),
            Some(json!({"level": "none"})),
        )
        .await;
    http_error(&answer, StatusCode::NOT_FOUND, "not_found");
    let (_, body) = app.http(Method::GET, &room_path, Some(&bob), None).await;
    assert_eq!(
        body["notifications"]["level"],
        json!("mentions"),
        "unchanged"
    );
}
