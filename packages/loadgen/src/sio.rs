//! One Socket.IO v5 client connection over WebSocket, speaking what the official client sends:
//! engine.io v4 framing (`0{…}` open, `2`/`3` ping and pong, `4` message) carrying socket.io
//! packets (`40{auth}` connect, `42["event",data]` events, `42<id>[…]` with an ack answered by
//! `43<id>[…]`). Only what a benchmark needs: `message:send` with its ack, and the `message`
//! broadcasts, whose latency is read from the timestamp the sender put in the body.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::error::{Error, Result};
use crate::stats::Recorder;

/// Where one connection goes and as whom.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `host:port` of the server.
    pub addr: SocketAddr,
    /// The local address to bind before connecting: spreading connections over several
    /// 127.0.0.x sources lifts the ~28k ephemeral ports per address pair.
    pub source: IpAddr,
    /// The CONNECT packet's `auth` object (`{token}`, plus `rooms` for the relays).
    pub auth: Value,
}

/// A send the connection should make: the room and the scheduled time (µs on the recorder's
/// clock). Latency is measured from the schedule, not from when the socket got to it, so a
/// slow generator cannot hide a slow server (no coordinated omission).
#[derive(Debug)]
pub struct Send {
    pub room_id: Arc<str>,
    pub client_id: String,
    pub scheduled_us: u64,
}

/// A connected client. Dropping it closes the connection.
pub struct Client {
    sends: mpsc::UnboundedSender<Send>,
    task: tokio::task::JoinHandle<()>,
}

impl Client {
    /// Opens the WebSocket, waits for the engine.io open packet, sends CONNECT with the auth
    /// object and waits for the server's CONNECT (or its refusal).
    pub async fn connect(endpoint: &Endpoint, recorder: Arc<Recorder>) -> Result<Client> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(endpoint.source, 0))?;
        let stream = socket.connect(endpoint.addr).await?;
        stream.set_nodelay(true)?;
        let url = format!(
            "ws://{}/socket.io/?EIO=4&transport=websocket",
            endpoint.addr
        );
        let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await?;

        match next_text(&mut ws).await? {
            open if open.starts_with('0') => {}
            other => {
                return Err(Error::Protocol(format!(
                    "expected an open packet, got {other}"
                )));
            }
        }
        ws.send(Frame::text(format!("40{}", endpoint.auth))).await?;
        loop {
            let text = next_text(&mut ws).await?;
            if text.starts_with("40") {
                break;
            }
            if let Some(refusal) = text.strip_prefix("44") {
                return Err(Error::Refused(refusal.to_string()));
            }
            if text == "2" {
                ws.send(Frame::text("3")).await?;
            }
            // Anything else before CONNECT (none expected) is ignored.
        }

        let (sends, mut queue) = mpsc::unbounded_channel::<Send>();
        let task = tokio::spawn(async move {
            let (mut sink, mut stream) = ws.split();
            let mut pending: HashMap<u64, u64> = HashMap::new();
            let mut next_id: u64 = 0;
            loop {
                tokio::select! {
                    frame = stream.next() => {
                        let text = match frame {
                            Some(Ok(Frame::Text(text))) => text,
                            Some(Ok(Frame::Close(_))) | None => break,
                            Some(Ok(_)) => continue,
                            Some(Err(_)) => {
                                recorder.connection_lost();
                                break;
                            }
                        };
                        if text.as_str() == "2" {
                            if sink.send(Frame::text("3")).await.is_err() {
                                break;
                            }
                        } else if let Some(event) = text.strip_prefix("42") {
                            on_event(event, &recorder);
                        } else if let Some(ack) = text.strip_prefix("43") {
                            on_ack(ack, &mut pending, &recorder);
                        } else if text.starts_with('1') || text.starts_with("41") {
                            recorder.connection_lost();
                            break;
                        }
                    }
                    send = queue.recv() => {
                        let Some(send) = send else { break };
                        let id = next_id;
                        next_id += 1;
                        pending.insert(id, send.scheduled_us);
                        let packet = json!(["message:send", {
                            "room_id": &*send.room_id,
                            "client_id": send.client_id,
                            "body": format!("t{}", send.scheduled_us),
                        }]);
                        if sink.send(Frame::text(format!("42{id}{packet}"))).await.is_err() {
                            recorder.connection_lost();
                            break;
                        }
                    }
                }
            }
            let _ = sink.close().await;
        });
        Ok(Client { sends, task })
    }

    /// Queues a send; false when the connection is gone.
    pub fn send(&self, send: Send) -> bool {
        self.sends.send(send).is_ok()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn next_text(ws: &mut Ws) -> Result<String> {
    loop {
        match ws.next().await {
            Some(Ok(Frame::Text(text))) => return Ok(text.as_str().to_string()),
            Some(Ok(Frame::Close(_))) | None => return Err(Error::Closed),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

#[derive(Deserialize)]
struct Broadcast<'a> {
    #[serde(borrow)]
    body: &'a str,
}

/// `["message", {…, "body": "t<µs>"}]`: one delivery. Other events (presence, …) are ignored.
fn on_event(event: &str, recorder: &Recorder) {
    if !event.starts_with("[\"message\",") {
        return;
    }
    match serde_json::from_str::<(&str, Broadcast)>(event) {
        Ok((_, message)) => match message.body.strip_prefix('t').map(str::parse::<u64>) {
            Some(Ok(sent_us)) => recorder.delivered(sent_us),
            _ => recorder.foreign_delivery(),
        },
        Err(_) => recorder.foreign_delivery(),
    }
}

/// `<id>[{"ok":…}]`: the ack of one of our sends.
fn on_ack(ack: &str, pending: &mut HashMap<u64, u64>, recorder: &Recorder) {
    let digits = ack.bytes().take_while(u8::is_ascii_digit).count();
    let Ok(id) = ack[..digits].parse::<u64>() else {
        return;
    };
    let Some(scheduled_us) = pending.remove(&id) else {
        return;
    };
    let ok = serde_json::from_str::<Value>(&ack[digits..])
        .ok()
        .and_then(|v| v.get(0).and_then(|a| a.get("ok")).and_then(Value::as_bool))
        .unwrap_or(false);
    if ok {
        recorder.acked(scheduled_us);
    } else {
        recorder.refused(&ack[digits..]);
    }
}
