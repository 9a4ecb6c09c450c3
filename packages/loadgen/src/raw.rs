//! The ceiling of the fan-out figures: a WebSocket broadcast server with nothing behind it.
//! It speaks the very frames a Socket.IO server sends (open, CONNECT, pings, `message:send`
//! with its ack, `message` broadcasts of the same shape), so the same generator drives it, but
//! there is no Socket.IO machinery, no adapter, no sequencing, no storage: one process, rooms
//! in a map, each broadcast encoded once and its bytes shared by every receiver.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Message as Frame, Utf8Bytes};

type Members = Vec<(u64, mpsc::UnboundedSender<Utf8Bytes>)>;

#[derive(Default)]
struct Rooms {
    members: RwLock<HashMap<String, Arc<Room>>>,
    next_socket: AtomicU64,
}

#[derive(Default)]
struct Room {
    seq: AtomicU64,
    sockets: RwLock<Members>,
}

/// Serves until the listener fails.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let rooms = Arc::new(Rooms::default());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, rooms.clone()));
    }
}

#[derive(Deserialize)]
struct Auth {
    token: String,
    #[serde(default)]
    rooms: Vec<String>,
}

#[derive(Deserialize)]
struct SendPayload {
    room_id: String,
    client_id: String,
    body: String,
}

async fn connection(stream: TcpStream, rooms: Arc<Rooms>) {
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let id = rooms.next_socket.fetch_add(1, Relaxed);
    let open = json!({"sid": format!("s{id}"), "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000, "maxPayload": 1_000_000});
    if sink.send(Frame::text(format!("0{open}"))).await.is_err() {
        return;
    }
    let auth: Auth = loop {
        match stream.next().await {
            Some(Ok(Frame::Text(text))) => {
                match text.strip_prefix("40").map(serde_json::from_str) {
                    Some(Ok(auth)) => break auth,
                    Some(Err(_)) => {
                        let refusal = r#"44{"message":"unauthorized"}"#;
                        let _ = sink.send(Frame::text(refusal)).await;
                        return;
                    }
                    None => continue,
                }
            }
            Some(Ok(_)) => continue,
            _ => return,
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Utf8Bytes>();
    let mut joined = Vec::new();
    for name in &auth.rooms {
        let room = rooms
            .members
            .write()
            .unwrap()
            .entry(name.clone())
            .or_default()
            .clone();
        room.sockets.write().unwrap().push((id, tx.clone()));
        joined.push(room);
    }
    let connected = format!("40{}", json!({"sid": format!("c{id}")}));
    if sink.send(Frame::text(connected)).await.is_ok() {
        let mut ping = tokio::time::interval(Duration::from_secs(25));
        ping.tick().await;
        loop {
            tokio::select! {
                frame = stream.next() => match frame {
                    Some(Ok(Frame::Text(text))) => {
                        if let Some(reply) = on_packet(&text, &auth.token, &rooms)
                            && sink.send(Frame::text(reply)).await.is_err()
                        {
                            break;
                        }
                    }
                    Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
                out = rx.recv() => match out {
                    Some(bytes) => if sink.send(Frame::Text(bytes)).await.is_err() { break },
                    None => break,
                },
                _ = ping.tick() => if sink.send(Frame::text("2")).await.is_err() { break },
            }
        }
    }
    for room in joined {
        room.sockets.write().unwrap().retain(|(s, _)| *s != id);
    }
}

/// One packet from a client; returns the ack to write back, if any.
fn on_packet(text: &str, user: &str, rooms: &Rooms) -> Option<String> {
    let event = text.strip_prefix("42")?;
    let digits = event.bytes().take_while(u8::is_ascii_digit).count();
    let ack_id = &event[..digits];
    let (name, payload): (String, Value) = serde_json::from_str(&event[digits..]).ok()?;
    if name != "message:send" {
        return None;
    }
    let answer = match serde_json::from_value::<SendPayload>(payload) {
        Ok(send) => {
            let room = rooms.members.read().unwrap().get(&send.room_id).cloned();
            match room {
                Some(room) => {
                    let seq = room.seq.fetch_add(1, Relaxed) + 1;
                    let message = json!({
                        "id": format!("{}-{seq}", send.room_id), "room_id": send.room_id, "seq": seq,
                        "sender_id": user, "client_id": send.client_id, "body": send.body,
                        "attachments": [], "reply_to": null,
                        "created_at": crate::unix_millis(), "edited_at": null, "deleted": false,
                    });
                    let frame = Utf8Bytes::from(format!("42{}", json!(["message", &message])));
                    for (_, member) in room.sockets.read().unwrap().iter() {
                        let _ = member.send(frame.clone());
                    }
                    json!({"ok": true, "message": message})
                }
                None => {
                    json!({"ok": false, "error": {"code": "not_found", "message": "no such room"}})
                }
            }
        }
        Err(e) => {
            json!({"ok": false, "error": {"code": "invalid_request", "message": e.to_string()}})
        }
    };
    (!ack_id.is_empty()).then(|| format!("43{ack_id}[{answer}]"))
}
