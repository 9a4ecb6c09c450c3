//! The rooms HTTP API (`/api/rooms`) through the router, and what its membership changes do to
//! live sockets: `room:added`, `room:updated`, `room:removed`, joining and leaving.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::support::{
    App, User, assert_quiet, assert_time, client_id, http_error, ok, refused, send,
};

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

const ROOM_KEYS: [&str; 12] = [
    "created_at",
    "created_by",
    "id",
    "kind",
    "last_read_seq",
    "last_seq",
    "members",
    "name",
    "notifications",
    "rev",
    "unread",
    "unread_mentions",
];
const ROOM_INFO_KEYS: [&str; 8] = [
    "created_at",
    "created_by",
    "id",
    "kind",
    "last_seq",
    "members",
    "name",
    "rev",
];

async fn create_group(app: &App, owner: &User, name: &str, members: &[&User]) -> Value {
    let ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
    let (status, room) = app
        .http(
            Method::POST,
            "/api/rooms",
            Some(owner),
            Some(json!({"name": name, "members": ids})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    room
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_group_answers_201_and_puts_the_members_sockets_in_it() {
    let app = App::new().await;
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    let mut c = app.connect(&carol).await;

    let (status, room) = app
        .http(
            Method::POST,
            "/api/rooms",
            Some(&alice),
            Some(json!({"name": "  Team  ", "members": [bob.id, bob.id, alice.id]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    assert_eq!(keys(&room), ROOM_KEYS);
    assert_eq!(room["kind"], json!("group"));
    assert_eq!(room["name"], json!("Team"));
    assert_eq!(room["created_by"], json!(alice.id));
    assert_eq!(room["members"], json!([alice.id, bob.id]));
    for field in ["last_seq", "rev", "last_read_seq", "unread"] {
        assert_eq!(room[field], json!(0), "{field}");
    }
    assert_time(&room["created_at"]);
    let room_id = room["id"].as_str().unwrap().to_string();

    for client in [&mut a, &mut b] {
        assert_eq!(client.next_payload("room:added").await, room);
    }
    c.assert_none("room:added").await;
    // Each learns that the other, now sharing a room, is online.
    assert_eq!(
        a.next_payload("presence").await,
        json!({"user_id": bob.id, "online": true})
    );
    assert_eq!(
        b.next_payload("presence").await,
        json!({"user_id": alice.id, "online": true})
    );

    // The sockets are in the room at once.
    let message = send(&mut b, &room_id, "first").await;
    assert_eq!(a.next_payload("message").await, message);
    c.assert_none("message").await;

    // The owner alone is a group too; a name of 64 characters is fine.
    let solo = create_group(&app, &carol, &"n".repeat(64), &[]).await;
    assert_eq!(solo["members"], json!([carol.id]));
    assert_eq!(c.next_payload("room:added").await, solo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_group_is_refused_and_creates_nothing() {
    let app = App::new().await;
    let alice = app.user("alice").await;
    let mut a = app.connect(&alice).await;

    for name in [
        "",
        "   ",
        &"n".repeat(65),
        "admins\u{202E}txt.exe",
        "\u{200B}",
        "\u{3164}",
    ] {
        let answer = app
            .http(
                Method::POST,
                "/api/rooms",
                Some(&alice),
                Some(json!({"name": name})),
            )
            .await;
        http_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
    }
    for body in [
        json!({"name": "team", "members": ["no-such-user"]}),
        json!({"members": []}),
        json!({"name": 5}),
        json!({"name": "team", "members": "bob"}),
    ] {
        let answer = app
            .http(Method::POST, "/api/rooms", Some(&alice), Some(body))
            .await;
        http_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
    }
    let malformed = Request::builder()
        .method(Method::POST)
        .uri("/api/rooms")
        .header(header::AUTHORIZATION, format!("Bearer {}", alice.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"name\":"))
        .unwrap();
    let answer = app.send_request(malformed).await;
    http_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
    let not_json = Request::builder()
        .method(Method::POST)
        .uri("/api/rooms")
        .header(header::AUTHORIZATION, format!("Bearer {}", alice.token))
        .body(Body::from("{\"name\":\"team\"}"))
        .unwrap();
    let answer = app.send_request(not_json).await;
    http_error(
        &answer,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let answer = app
        .http(
            Method::POST,
            "/api/rooms",
            None,
            Some(json!({"name": "team"})),
        )
        .await;
    http_error(&answer, StatusCode::UNAUTHORIZED, "unauthorized");
    let mut forged = alice.clone();
    forged.token.push('x');
    let answer = app
        .http(Method::GET, "/api/rooms", Some(&forged), None)
        .await;
    http_error(&answer, StatusCode::UNAUTHORIZED, "unauthorized");

    a.assert_none("room:added").await;
    let (status, body) = app
        .http(Method::GET, "/api/rooms", Some(&alice), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"rooms": []}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_read_rooms_history_and_read_pointers() {
    let app = App::new().await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let older = create_group(&app, &alice, "older", &[&bob]).await;
    let newer = create_group(&app, &alice, "newer", &[&bob]).await;
    let (older_id, newer_id) = (older["id"].as_str().unwrap(), newer["id"].as_str().unwrap());
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(send(&mut a, newer_id, &format!("m{i}")).await);
    }
    // The older room has the latest activity now.
    send(&mut a, older_id, "bump").await;
    ok(&b.call("read", json!({"room_id": newer_id, "seq": 2})).await);

    let (status, list) = app.http(Method::GET, "/api/rooms", Some(&bob), None).await;
    assert_eq!(status, StatusCode::OK);
    let rooms = list["rooms"].as_array().unwrap();
    let ids: Vec<&Value> = rooms.iter().map(|r| &r["id"]).collect();
    assert_eq!(
        ids,
        [&older["id"], &newer["id"]],
        "most recent activity first"
    );
    let mine = &rooms[1];
    assert_eq!(keys(mine), ROOM_KEYS);
    assert_eq!(mine["last_seq"], json!(5));
    assert_eq!(mine["last_read_seq"], json!(2));
    assert_eq!(mine["unread"], json!(3));

    let (status, room) = app
        .http(
            Method::GET,
            &format!("/api/rooms/{newer_id}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&room, mine);

    let history = |query: &str| format!("/api/rooms/{newer_id}/messages{query}");
    let page = |range: std::ops::Range<usize>, has_more: bool| json!({"messages": sent[range], "has_more": has_more});
    for (query, expected) in [
        ("", page(0..5, false)),
        ("?limit=2", page(3..5, true)),
        ("?before_seq=3&limit=5", page(0..2, false)),
        ("?before_seq=4&limit=2", page(1..3, true)),
        ("?after_seq=1&limit=2", page(1..3, true)),
        ("?after_seq=3", page(3..5, false)),
        ("?after_seq=1&before_seq=4", page(1..3, false)),
    ] {
        let (status, body) = app
            .http(Method::GET, &history(query), Some(&bob), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(body, expected, "{query}");
    }
    for query in ["?limit=0", "?limit=101", "?before_seq=abc", "?after_seq=-1"] {
        let answer = app
            .http(Method::GET, &history(query), Some(&bob), None)
            .await;
        http_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
    }

    let (status, reads) = app
        .http(
            Method::GET,
            &format!("/api/rooms/{newer_id}/reads"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        reads,
        json!({"reads": [{"user_id": alice.id, "seq": 0}, {"user_id": bob.id, "seq": 2}]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_member_answers_204_and_tells_everyone() {
    let app = App::new().await;
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let room = create_group(&app, &alice, "team", &[&bob]).await;
    let room_id = room["id"].as_str().unwrap().to_string();
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    let mut c = app.connect(&carol).await;
    // Alice and Bob already share the room: each has had the other's presence.
    assert_eq!(
        a.next_payload("presence").await,
        json!({"user_id": bob.id, "online": true})
    );
    assert_eq!(
        b.next_payload("presence").await,
        json!({"user_id": alice.id, "online": true})
    );
    send(&mut a, &room_id, "before carol").await;

    let path = format!("/api/rooms/{room_id}/members");
    let (status, body) = app
        .http(
            Method::POST,
            &path,
            Some(&alice),
            Some(json!({"user_id": carol.id})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);

    let members = json!([alice.id, bob.id, carol.id]);
    let added = c.next_payload("room:added").await;
    assert_eq!(keys(&added), ROOM_KEYS);
    assert_eq!(added["id"], json!(room_id));
    assert_eq!(added["members"], members);
    assert_eq!(added["last_seq"], json!(1));
    assert_eq!(added["last_read_seq"], json!(0));
    assert_eq!(added["unread"], json!(1));
    for client in [&mut a, &mut b, &mut c] {
        let updated = client.next_payload("room:updated").await;
        assert_eq!(keys(&updated), ROOM_INFO_KEYS);
        assert_eq!(updated["id"], json!(room_id));
        assert_eq!(updated["members"], members);
        assert_eq!(updated["last_seq"], json!(1));
    }
    assert_quiet(&mut [&mut a, &mut b], &["room:added"]).await;
    // Presence both ways: the newcomer learns who is online, the others that she is.
    let mut seen: Vec<Value> = Vec::new();
    seen.push(c.next_payload("presence").await);
    seen.push(c.next_payload("presence").await);
    seen.sort_by_key(|p| p["user_id"].as_str().unwrap().to_string());
    let mut expected = vec![
        json!({"user_id": alice.id, "online": true}),
        json!({"user_id": bob.id, "online": true}),
    ];
    expected.sort_by_key(|p| p["user_id"].as_str().unwrap().to_string());
    assert_eq!(seen, expected);
    for client in [&mut a, &mut b] {
        assert_eq!(
            client.next_payload("presence").await,
            json!({"user_id": carol.id, "online": true})
        );
    }

    // Carol's socket is in the room: she receives and may send.
    let message = send(&mut a, &room_id, "welcome").await;
    assert_eq!(c.next_payload("message").await, message);
    let reply = send(&mut c, &room_id, "thanks").await;
    assert_eq!(reply["seq"], json!(3));

    // Adding her again changes nothing and tells nobody.
    let (status, _) = app
        .http(
            Method::POST,
            &path,
            Some(&alice),
            Some(json!({"user_id": carol.id})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_quiet(
        &mut [&mut a, &mut b, &mut c],
        &["room:updated", "room:added"],
    )
    .await;
    // An unknown user is a bad request.
    let answer = app
        .http(
            Method::POST,
            &path,
            Some(&alice),
            Some(json!({"user_id": "nobody"})),
        )
        .await;
    http_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_member_answers_204_and_takes_their_sockets_out() {
    let app = App::new().await;
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let room = create_group(&app, &alice, "team", &[&bob, &carol]).await;
    let room_id = room["id"].as_str().unwrap().to_string();
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    let mut c = app.connect(&carol).await;

    let (status, body) = app
        .http(
            Method::DELETE,
            &format!("/api/rooms/{room_id}/members/{}", bob.id),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    assert_eq!(
        b.next_payload("room:removed").await,
        json!({"room_id": room_id})
    );
    for client in [&mut a, &mut c] {
        let updated = client.next_payload("room:updated").await;
        assert_eq!(keys(&updated), ROOM_INFO_KEYS);
        assert_eq!(updated["members"], json!([alice.id, carol.id]));
    }
    assert_quiet(&mut [&mut a, &mut c], &["room:removed"]).await;
    b.assert_none("room:updated").await;

    // Bob receives nothing more of it, and it is not found for him.
    let message = send(&mut a, &room_id, "without bob").await;
    assert_eq!(c.next_payload("message").await, message);
    b.assert_none("message").await;
    let answer = b
        .call(
            "message:send",
            json!({"room_id": room_id, "client_id": client_id(), "body": "let me in"}),
        )
        .await;
    refused(&answer, "not_found");
    let answer = app
        .http(
            Method::GET,
            &format!("/api/rooms/{room_id}"),
            Some(&bob),
            None,
        )
        .await;
    http_error(&answer, StatusCode::NOT_FOUND, "not_found");

    // Removing him again: he is no member.
    let answer = app
        .http(
            Method::DELETE,
            &format!("/api/rooms/{room_id}/members/{}", bob.id),
            Some(&alice),
            None,
        )
        .await;
    http_error(&answer, StatusCode::NOT_FOUND, "not_found");

    // Carol leaves by herself.
    let (status, _) = app
        .http(
            Method::DELETE,
            &format!("/api/rooms/{room_id}/members/{}", carol.id),
            Some(&carol),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        c.next_payload("room:removed").await,
        json!({"room_id": room_id})
    );
    assert_eq!(
        a.next_payload("room:updated").await["members"],
        json!([alice.id])
    );
    c.assert_none("room:updated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_is_not_found_for_non_members() {
    let app = App::new().await;
    let (alice, bob, dave) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("dave").await,
    );
    let room = create_group(&app, &alice, "team", &[&bob]).await;
    let room_id = room["id"].as_str().unwrap();
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;

    for id in [room_id, "no-such-room"] {
        for (method, path, body) in [
            (Method::GET, format!("/api/rooms/{id}"), None),
            (Method::GET, format!("/api/rooms/{id}/messages"), None),
            (Method::GET, format!("/api/rooms/{id}/reads"), None),
            (
                Method::POST,
                format!("/api/rooms/{id}/members"),
                Some(json!({"user_id": dave.id})),
            ),
            (
                Method::DELETE,
                format!("/api/rooms/{id}/members/{}", bob.id),
                None,
            ),
            (
                Method::DELETE,
                format!("/api/rooms/{id}/members/{}", dave.id),
                None,
            ),
        ] {
            let answer = app.http(method.clone(), &path, Some(&dave), body).await;
            http_error(&answer, StatusCode::NOT_FOUND, "not_found");
            assert_eq!(
                answer.1["error"]["message"],
                json!("room not found"),
                "{method} {path}"
            );
        }
    }
    assert_quiet(&mut [&mut a, &mut b], &["room:updated", "room:removed"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_groups_owner_adds_and_removes_others() {
    let app = App::new().await;
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let room = create_group(&app, &alice, "team", &[&bob]).await;
    let room_id = room["id"].as_str().unwrap().to_string();
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    let mut c = app.connect(&carol).await;

    let answer = app
        .http(
            Method::POST,
            &format!("/api/rooms/{room_id}/members"),
            Some(&bob),
            Some(json!({"user_id": carol.id})),
        )
        .await;
    http_error(&answer, StatusCode::FORBIDDEN, "forbidden");
    let answer = app
        .http(
            Method::DELETE,
            &format!("/api/rooms/{room_id}/members/{}", alice.id),
            Some(&bob),
            None,
        )
        .await;
    http_error(&answer, StatusCode::FORBIDDEN, "forbidden");
    assert_quiet(
        &mut [&mut a, &mut b, &mut c],
        &["room:added", "room:updated", "room:removed"],
    )
    .await;

    // A direct room takes nobody else, and nobody removes the other.
    let (status, direct) = app
        .http(
            Method::POST,
            "/api/rooms/direct",
            Some(&alice),
            Some(json!({"user_id": bob.id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{direct}");
    let direct_id = direct["id"].as_str().unwrap();
    let answer = app
        .http(
            Method::POST,
            &format!("/api/rooms/{direct_id}/members"),
            Some(&alice),
            Some(json!({"user_id": carol.id})),
        )
        .await;
    http_error(&answer, StatusCode::FORBIDDEN, "forbidden");
    let answer = app
        .http(
            Method::DELETE,
            &format!("/api/rooms/{direct_id}/members/{}", bob.id),
            Some(&alice),
            None,
        )
        .await;
    http_error(&answer, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_room_is_created_once_for_the_pair() {
    let app = App::new().await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;

    let (status, room) = app
        .http(
            Method::POST,
            "/api/rooms/direct",
            Some(&alice),
            Some(json!({"user_id": bob.id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{room}");
    assert_eq!(keys(&room), ROOM_KEYS);
    assert_eq!(room["kind"], json!("direct"));
    assert_eq!(room["name"], json!(""));
    assert_eq!(room["members"], json!([alice.id, bob.id]));
    for client in [&mut a, &mut b] {
        assert_eq!(client.next_payload("room:added").await, room);
    }

    // Whoever asks next gets the same room, and nobody is told again.
    let (status, again) = app
        .http(
            Method::POST,
            "/api/rooms/direct",
            Some(&bob),
            Some(json!({"user_id": alice.id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, room);
    assert_quiet(&mut [&mut a, &mut b], &["room:added"]).await;
    for user_id in [alice.id.as_str(), "nobody"] {
        let answer = app
            .http(
                Method::POST,
                "/api/rooms/direct",
                Some(&alice),
                Some(json!({"user_id": user_id})),
            )
            .await;
        http_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
    }
}
