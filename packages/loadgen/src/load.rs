//! The two kinds of run.
//!
//! - [`rooms`]: rooms of `room_size` sockets each, one sender per room, messages sent open-loop
//!   at a fixed total rate spread over the rooms, in steps of rising rate; after each step it
//!   waits for every ack and delivery (or the drain time), then reports latencies, losses and
//!   the servers' CPU time. Stepping stops once a step saturates (p99 over the bound, a loss,
//!   an unanswered send, a dropped connection).
//! - [`idle`]: connections that only connect and answer pings, opened up to each level in
//!   turn; reports the servers' resident memory per connection.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::setup::{self, Target, User};
use crate::sio::{Client, Endpoint, Send};
use crate::stats::{Counts, Recorder, Usage, usage};

/// Connections opened at once; more make the listen backlogs overflow into SYN retries.
const CONNECT_CONCURRENCY: usize = 128;

/// Where and how to connect, common to both kinds of run.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub target: Target,
    /// Local addresses to spread connections over (127.0.0.x).
    pub sources: Vec<IpAddr>,
    /// Server processes whose CPU time and memory are measured.
    pub pids: Vec<u32>,
    /// Users registered this many at a time.
    pub register_concurrency: usize,
    /// Reuse the users of an earlier run against the same server.
    pub users_cache: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct RoomsSpec {
    /// Each room's sender connects to one of these (round robin over rooms).
    pub send_addrs: Vec<SocketAddr>,
    /// The other members connect to these (round robin).
    pub recv_addrs: Vec<SocketAddr>,
    pub rooms: usize,
    pub room_size: usize,
    /// Total messages per second of each step.
    pub rates: Vec<u64>,
    pub step: Duration,
    /// How long to wait for the last acks and deliveries of a step.
    pub drain: Duration,
    /// A step whose delivery p99 exceeds this saturates the server (ms).
    pub p99_limit_ms: f64,
}

/// One step of a rooms run.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub rate: u64,
    pub rooms: usize,
    pub room_size: usize,
    pub secs: f64,
    #[serde(flatten)]
    pub counts: Counts,
    pub expected_deliveries: u64,
    pub lost: u64,
    pub unanswered: u64,
    pub acked_per_sec: f64,
    pub deliveries_per_sec: f64,
    pub server_cpu_secs: f64,
    pub deliveries_per_cpu_sec: f64,
    pub saturated: bool,
}

/// Sets up the rooms, connects every member and runs the steps; `each` sees every step as it
/// ends.
pub async fn rooms(
    fleet: &Fleet,
    spec: &RoomsSpec,
    mut each: impl FnMut(&Step),
) -> Result<Vec<Step>> {
    let total = spec.rooms * spec.room_size;
    let users = setup::users(
        &fleet.target,
        total,
        fleet.register_concurrency,
        fleet.users_cache.as_deref(),
    )
    .await?;
    let run = crate::run_id();
    let mut room_ids: Vec<Arc<str>> = Vec::with_capacity(spec.rooms);
    for (k, members) in users.chunks(spec.room_size).take(spec.rooms).enumerate() {
        room_ids.push(
            setup::room(&fleet.target, &format!("r{run}-{k}"), members)
                .await?
                .into(),
        );
    }

    let recorder = Arc::new(Recorder::default());
    let mut endpoints = Vec::with_capacity(total);
    for (i, user) in users.iter().enumerate() {
        let (k, j) = (i / spec.room_size, i % spec.room_size);
        let addr = if j == 0 {
            spec.send_addrs[k % spec.send_addrs.len()]
        } else {
            spec.recv_addrs[i % spec.recv_addrs.len()]
        };
        endpoints.push(Endpoint {
            addr,
            source: fleet.sources[i % fleet.sources.len()],
            auth: setup::auth(&fleet.target, user, &room_ids[k..=k]),
        });
    }
    let clients = connect(&endpoints, &recorder)
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    // Presence and joins of a mass connect settle before anything is measured.
    quiet(&fleet.pids).await;
    recorder.take();

    let mut steps = Vec::new();
    for &rate in &spec.rates {
        let before = usage(&fleet.pids);
        let started = recorder.now_us();
        let mut sent: u64 = 0;
        let mut ticker = tokio::time::interval(Duration::from_millis(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let step_us = spec.step.as_micros() as u64;
        loop {
            ticker.tick().await;
            let elapsed = recorder.now_us() - started;
            let due = (rate as u128 * elapsed.min(step_us) as u128 / 1_000_000) as u64;
            while sent < due {
                let k = (sent % spec.rooms as u64) as usize;
                let scheduled_us = started + (sent as u128 * 1_000_000 / rate as u128) as u64;
                let sender = &clients[k * spec.room_size];
                sender.send(Send {
                    room_id: room_ids[k].clone(),
                    // Time-stamped, as the web app makes them.
                    client_id: uuid::Uuid::now_v7().hyphenated().to_string(),
                    scheduled_us,
                });
                recorder.sent();
                sent += 1;
            }
            if elapsed >= step_us {
                break;
            }
        }
        let secs = (recorder.now_us() - started) as f64 / 1e6;
        let drain_until = tokio::time::Instant::now() + spec.drain;
        while tokio::time::Instant::now() < drain_until
            && (recorder.answered_count() < sent
                || recorder.delivered_count() < recorder.acked_count() * spec.room_size as u64)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let after = usage(&fleet.pids);
        let counts = recorder.take();
        let expected = (counts.sent - counts.refused) * spec.room_size as u64;
        let lost = expected.saturating_sub(counts.delivered);
        let unanswered =
            counts.sent - counts.acked.min(counts.sent) - counts.refused.min(counts.sent);
        let cpu = after.cpu_secs - before.cpu_secs;
        let saturated = lost > 0
            || unanswered > 0
            || counts.refused > 0
            || counts.connections_lost > 0
            || counts.delivery_latency.p99_ms > spec.p99_limit_ms;
        let step = Step {
            rate,
            rooms: spec.rooms,
            room_size: spec.room_size,
            secs,
            expected_deliveries: expected,
            lost,
            unanswered,
            acked_per_sec: counts.acked as f64 / secs,
            deliveries_per_sec: counts.delivered as f64 / secs,
            server_cpu_secs: cpu,
            deliveries_per_cpu_sec: if cpu > 0.0 {
                counts.delivered as f64 / cpu
            } else {
                0.0
            },
            saturated,
            counts,
        };
        each(&step);
        steps.push(step);
        if saturated {
            break;
        }
    }
    drop(clients);
    Ok(steps)
}

#[derive(Debug, Clone)]
pub struct IdleSpec {
    pub addr: SocketAddr,
    /// Connection counts to measure at, ascending.
    pub levels: Vec<usize>,
    /// Users to spread the connections over (a user may hold many sockets).
    pub users: usize,
    /// Wait after reaching a level before reading memory.
    pub settle: Duration,
}

/// One level of an idle run.
#[derive(Debug, Clone, Serialize)]
pub struct Level {
    pub connections: usize,
    pub failed: usize,
    pub rss_before_kib: u64,
    pub rss_kib: u64,
    pub kib_per_connection: f64,
}

pub async fn idle(
    fleet: &Fleet,
    spec: &IdleSpec,
    mut each: impl FnMut(&Level),
) -> Result<Vec<Level>> {
    let users: Vec<User> = setup::users(
        &fleet.target,
        spec.users,
        fleet.register_concurrency,
        fleet.users_cache.as_deref(),
    )
    .await?;
    let recorder = Arc::new(Recorder::default());
    let base: Usage = usage(&fleet.pids);
    let mut clients: Vec<Client> = Vec::new();
    let mut failed = 0;
    let mut levels = Vec::new();
    for &level in &spec.levels {
        let endpoints: Vec<Endpoint> = (clients.len()..level)
            .map(|i| Endpoint {
                addr: spec.addr,
                source: fleet.sources[i % fleet.sources.len()],
                auth: setup::auth(&fleet.target, &users[i % users.len()], &[]),
            })
            .collect();
        for result in connect(&endpoints, &recorder).await {
            match result {
                Ok(client) => clients.push(client),
                Err(_) => failed += 1,
            }
        }
        tokio::time::sleep(spec.settle).await;
        let now = usage(&fleet.pids);
        let grown = now.rss_kib.saturating_sub(base.rss_kib) as f64;
        let level = Level {
            connections: clients.len(),
            failed,
            rss_before_kib: base.rss_kib,
            rss_kib: now.rss_kib,
            kib_per_connection: if clients.is_empty() {
                0.0
            } else {
                grown / clients.len() as f64
            },
        };
        each(&level);
        levels.push(level);
    }
    Ok(levels)
}

/// Waits until the servers are nearly idle (under a tenth of a core for half a second) after
/// a mass connect, at most 15 s.
async fn quiet(pids: &[u32]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut before = usage(pids).cpu_secs;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = usage(pids).cpu_secs;
        if now - before < 0.05 {
            return;
        }
        before = now;
    }
}

/// Connects every endpoint, a bounded number at a time; the results are in order.
async fn connect(endpoints: &[Endpoint], recorder: &Arc<Recorder>) -> Vec<Result<Client>> {
    let permits = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut tasks = Vec::with_capacity(endpoints.len());
    for endpoint in endpoints {
        let (endpoint, recorder, permits) = (endpoint.clone(), recorder.clone(), permits.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await;
            connect_retrying(&endpoint, recorder).await
        }));
    }
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(
            task.await
                .map_err(|e| Error::Setup(e.to_string()))
                .and_then(|r| r),
        );
    }
    results
}

async fn connect_retrying(endpoint: &Endpoint, recorder: Arc<Recorder>) -> Result<Client> {
    let mut attempt = 0;
    loop {
        match Client::connect(endpoint, recorder.clone()).await {
            Ok(client) => return Ok(client),
            Err(e) if attempt >= 3 || matches!(e, Error::Refused(_)) => return Err(e),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
        }
    }
}
