//! The distributed hand-off: events are published to RabbitMQ (see [`crate::topology`]) as
//! persistent JSON messages, and `publish` returns only after the broker confirmed the message
//! and routed it to at least one queue.
//!
//! - **Channels.** One connection and a few channels in confirm mode ("lanes", publishes spread
//!   over them in turn). Each lane is owned by one task, which publishes what it is handed in
//!   order without waiting for confirms, so many publishes are in flight on a lane at once and
//!   one broker round trip (and fsync) confirms a whole burst. Only that task numbers and sends
//!   publishes on its channel, so delivery tags never swap between callers.
//! - **Returns.** lapin hands a `basic.return` to whichever confirm of the channel it processes
//!   next, which is not always the returned message's own once several are in flight. So the
//!   lane handles confirms in the order lapin resolves them, and when any confirm carries a
//!   return, every publish that was in flight on the lane at that moment fails (a retry is safe;
//!   consumers ignore duplicates). A returned message is thus never reported as confirmed.
//! - **Failures.** A nack, a returned message, a failed channel or connection, or no confirm
//!   within [`RabbitOptions::publish_timeout`] is [`Error::Unavailable`]; nothing is retried
//!   or queued here: the caller does not ack its sender, who retries.
//! - **Recovery.** A background task owns the connection. When the connection fails (lapin
//!   reports it, or a publish finds it), the task drops it and reconnects with exponential
//!   backoff, declaring the topology again each time; until then `publish` fails at once. Any
//!   other failure (a returned message: someone deleted a queue or binding) makes the task
//!   declare the topology again on the live connection.

use std::{
    sync::{
        Arc, RwLock, Weak,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use futures_util::{StreamExt, future::BoxFuture, stream::FuturesUnordered};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties,
    options::{BasicPublishOptions, ConfirmSelectOptions},
    uri::AMQPUri,
};
use models::events::Event;
use tokio::{
    sync::{Notify, mpsc, oneshot},
    task::JoinHandle,
};

use crate::{Error, HandOff, Result, topology::Topology};

/// Tuning of [`RabbitHandOff`]; [`RabbitOptions::default`] is meant for production.
#[derive(Debug, Clone)]
pub struct RabbitOptions {
    /// The longest a `publish` may take, waiting for a channel and for the broker's confirm.
    /// A sender waits this long at worst before its ack turns into an error.
    pub publish_timeout: Duration,
    /// The longest one connection attempt (TCP, AMQP handshake, topology) may take.
    pub connect_timeout: Duration,
    /// The longest wait between two reconnection attempts (the backoff doubles up to it).
    pub max_reconnect_delay: Duration,
    /// How many channels (lanes) publishes are spread over.
    pub channels: usize,
    /// How many publishes may await their confirm on one lane at once; more wait their turn.
    pub max_in_flight: usize,
    /// AMQP heartbeat in seconds, used when the URL sets none: how soon a broker that went
    /// silent without closing the socket (a frozen host, a dropped network) is noticed.
    pub heartbeat: u16,
}

impl Default for RabbitOptions {
    fn default() -> Self {
        RabbitOptions {
            publish_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            max_reconnect_delay: Duration::from_secs(5),
            channels: 4,
            max_in_flight: 1024,
            heartbeat: 10,
        }
    }
}

/// [`HandOff`] over RabbitMQ with publisher confirms; recovers from broker outages by itself.
///
/// Plain `amqp://` only: the crate is built without TLS (the broker runs inside the cluster).
pub struct RabbitHandOff {
    shared: Arc<Shared>,
    maintainer: JoinHandle<()>,
}

impl std::fmt::Debug for RabbitHandOff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URI: it holds the password.
        f.debug_struct("RabbitHandOff")
            .field("topology", &self.shared.topology)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

struct Shared {
    uri: AMQPUri,
    topology: Topology,
    options: RabbitOptions,
    /// `None` while disconnected; publishes then fail at once.
    link: RwLock<Option<Arc<Link>>>,
    /// Wakes the maintainer: something failed, check the connection and the topology.
    repair: Notify,
}

/// One live connection and its publishing lanes.
struct Link {
    /// Shared with the watcher (lapin's event stream borrows the connection).
    connection: Arc<Connection>,
    /// Where each lane's task takes its publishes.
    lanes: Vec<mpsc::Sender<Job>>,
    /// The lane the next publish goes to (round robin).
    next: AtomicUsize,
    /// The lanes' tasks and the watcher of the connection's events; stopped with the link.
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Link {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// One publish handed to a lane.
struct Job {
    routing_key: String,
    body: Vec<u8>,
    properties: BasicProperties,
    reply: oneshot::Sender<Result<(), Failure>>,
}

impl Drop for RabbitHandOff {
    fn drop(&mut self) {
        // The maintainer holds the last other reference to the connection.
        self.maintainer.abort();
    }
}

/// Why one publish failed.
enum Failure {
    Nacked,
    Returned(String),
    Channel(lapin::Error),
    NotConfirming,
    /// The lane stopped (its connection was replaced) before answering.
    Closed,
    /// Another message in flight with it was returned; which one lapin cannot tell.
    Tainted,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Nacked => write!(f, "RabbitMQ refused the event (nack; a full queue?)"),
            Failure::Returned(reply) => {
                write!(f, "no queue is bound for the event ({reply})")
            }
            Failure::Channel(e) => write!(f, "RabbitMQ channel failed: {e}"),
            Failure::NotConfirming => write!(f, "the channel is not in confirm mode"),
            Failure::Closed => write!(f, "the publishing channel closed"),
            Failure::Tainted => write!(
                f,
                "no queue is bound for an event published at the same time; not confirmed"
            ),
        }
    }
}

impl RabbitHandOff {
    /// Connects to `url` (`amqp://user:pass@host:port/vhost`), declares `topology` and opens a
    /// channel in confirm mode, with [`RabbitOptions::default`].
    pub async fn connect(url: &str, topology: Topology) -> Result<Self> {
        Self::connect_with(url, topology, RabbitOptions::default()).await
    }

    /// [`RabbitHandOff::connect`] with other options. Fails if the broker cannot be reached
    /// now; after that, outages are recovered from without a restart.
    pub async fn connect_with(
        url: &str,
        topology: Topology,
        options: RabbitOptions,
    ) -> Result<Self> {
        let mut uri: AMQPUri = url
            .parse()
            .map_err(|e| Error::Unavailable(format!("invalid AMQP URL: {e}")))?;
        if uri.query.heartbeat.is_none() {
            uri.query.heartbeat = Some(options.heartbeat);
        }
        let shared = Arc::new(Shared {
            uri,
            topology,
            options,
            link: RwLock::new(None),
            repair: Notify::new(),
        });
        let link = shared.open_link().await.map_err(Error::Unavailable)?;
        *shared.link.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(link));
        let maintainer = tokio::spawn(maintain(shared.clone()));
        Ok(RabbitHandOff { shared, maintainer })
    }

    /// Whether a connection to the broker is up now (for readiness probes).
    pub fn is_connected(&self) -> bool {
        self.shared
            .link()
            .is_some_and(|link| link.connection.status().connected())
    }

    /// The topology this publisher declares and publishes to.
    pub fn topology(&self) -> &Topology {
        &self.shared.topology
    }
}

#[async_trait]
impl HandOff for RabbitHandOff {
    fn is_available(&self) -> bool {
        self.is_connected()
    }

    async fn publish(&self, event: &Event) -> Result<()> {
        let shared = &self.shared;
        let Some(link) = shared.link() else {
            return Err(Error::Unavailable(
                "not connected to RabbitMQ (reconnecting)".into(),
            ));
        };
        let body = serde_json::to_vec(event)
            .map_err(|e| Error::Unavailable(format!("cannot encode the event: {e}")))?;
        let timeout = shared.options.publish_timeout;
        let published = tokio::time::timeout(timeout, link.publish(event.kind(), body)).await;
        match published {
            Ok(Ok(())) => Ok(()),
            Ok(Err(failure)) => {
                if !matches!(failure, Failure::Nacked) {
                    shared.repair.notify_one();
                }
                tracing::warn!(kind = event.kind(), error = %failure, "publish failed");
                Err(Error::Unavailable(failure.to_string()))
            }
            Err(_elapsed) => {
                shared.repair.notify_one();
                tracing::warn!(
                    kind = event.kind(),
                    ?timeout,
                    "publish not confirmed in time"
                );
                Err(Error::Unavailable(format!(
                    "RabbitMQ did not confirm the event within {timeout:?}"
                )))
            }
        }
    }
}

impl Link {
    /// Hands the publish to the next lane and waits for its outcome. Dropping this future does
    /// not cancel the publish: the lane sends it anyway (a sender who saw no ack retries, and
    /// consumers ignore the duplicate).
    async fn publish(&self, routing_key: &str, body: Vec<u8>) -> Result<(), Failure> {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_message_id(uuid::Uuid::now_v7().to_string().into())
            .with_type(routing_key.into())
            .with_timestamp(stamp);
        let (reply, answer) = oneshot::channel();
        let job = Job {
            routing_key: routing_key.to_owned(),
            body,
            properties,
            reply,
        };
        let lane = self.next.fetch_add(1, Ordering::Relaxed) % self.lanes.len();
        self.lanes[lane]
            .send(job)
            .await
            .map_err(|_| Failure::Closed)?;
        answer.await.map_err(|_| Failure::Closed)?
    }
}

/// A confirm awaited by a lane, with what the lane needs to answer it.
type InFlight = BoxFuture<
    'static,
    (
        lapin::Result<Confirmation>,
        u64,
        oneshot::Sender<Result<(), Failure>>,
    ),
>;

/// One lane: publishes its jobs in order on its channel, reopening the channel when it failed,
/// and answers each job once its confirm arrives, handling confirms in the order lapin resolves
/// them (see the module docs on returns).
async fn run_lane(
    connection: Arc<Connection>,
    exchange: String,
    mut channel: Option<Channel>,
    mut jobs: mpsc::Receiver<Job>,
    max_in_flight: usize,
) {
    let mut in_flight: FuturesUnordered<InFlight> = FuturesUnordered::new();
    // How many returned messages this lane has seen; a publish in flight while it grew fails.
    let mut returns: u64 = 0;
    loop {
        tokio::select! {
            biased;
            Some((confirmation, returns_before, reply)) = in_flight.next(), if !in_flight.is_empty() => {
                let outcome = match confirmation {
                    Ok(Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned))) => {
                        returns += 1;
                        Err(Failure::Returned(returned.reply_text.to_string()))
                    }
                    Ok(Confirmation::Ack(None)) if returns == returns_before => Ok(()),
                    Ok(Confirmation::Ack(None)) => Err(Failure::Tainted),
                    Ok(Confirmation::Nack(None)) => Err(Failure::Nacked),
                    Ok(Confirmation::NotRequested) => Err(Failure::NotConfirming),
                    Err(e) => Err(Failure::Channel(e)),
                };
                let _ = reply.send(outcome);
            }
            job = jobs.recv(), if in_flight.len() < max_in_flight => {
                let Some(job) = job else { return };
                let ready = match channel.take().filter(|c| c.status().connected()) {
                    Some(c) => Ok(c),
                    None => open_channel(&connection).await,
                };
                let open = match ready {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = job.reply.send(Err(Failure::Channel(e)));
                        continue;
                    }
                };
                let options = BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                };
                let published = open
                    .basic_publish(
                        exchange.as_str().into(),
                        job.routing_key.as_str().into(),
                        options,
                        &job.body,
                        job.properties,
                    )
                    .await;
                match published {
                    Ok(confirm) => {
                        let returns_before = returns;
                        let reply = job.reply;
                        in_flight.push(Box::pin(async move {
                            (confirm.await, returns_before, reply)
                        }));
                        channel = Some(open);
                    }
                    // The channel is left behind; the next job opens another.
                    Err(e) => {
                        let _ = job.reply.send(Err(Failure::Channel(e)));
                    }
                }
            }
        }
    }
}

async fn open_channel(connection: &Connection) -> lapin::Result<Channel> {
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

impl Shared {
    fn link(&self) -> Option<Arc<Link>> {
        self.link.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Connects, declares the topology and opens the first publishing channel.
    async fn open_link(self: &Arc<Self>) -> Result<Link, String> {
        let attempt = async {
            let properties = ConnectionProperties::default()
                .with_connection_name("chat hand-off publisher".into());
            let connection = Connection::connect_uri(self.uri.clone(), properties).await?;
            let channel = connection.create_channel().await?;
            crate::topology::declare(&channel, &self.topology).await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            Ok::<_, lapin::Error>((Arc::new(connection), channel))
        };
        let timeout = self.options.connect_timeout;
        let (connection, channel) = tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| format!("connecting to RabbitMQ took longer than {timeout:?}"))?
            .map_err(|e| format!("cannot connect to RabbitMQ: {e}"))?;
        let mut tasks = vec![tokio::spawn(watch(
            connection.clone(),
            Arc::downgrade(self),
        ))];
        let mut first = Some(channel);
        let mut lanes = Vec::new();
        for _ in 0..self.options.channels.max(1) {
            let (tx, rx) = mpsc::channel(self.options.max_in_flight.max(1));
            tasks.push(tokio::spawn(run_lane(
                connection.clone(),
                self.topology.exchange(),
                first.take(),
                rx,
                self.options.max_in_flight.max(1),
            )));
            lanes.push(tx);
        }
        Ok(Link {
            connection,
            lanes,
            next: AtomicUsize::new(0),
            tasks,
        })
    }

    /// One repair: redeclare on a live connection, else replace the connection.
    async fn repair(self: &Arc<Self>) -> Result<(), String> {
        if let Some(link) = self.link()
            && link.connection.status().connected()
        {
            let redeclare = async {
                let channel = link.connection.create_channel().await?;
                crate::topology::declare(&channel, &self.topology).await?;
                channel.close(200, "OK".into()).await
            };
            let timeout = self.options.connect_timeout;
            return match tokio::time::timeout(timeout, redeclare).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("cannot declare the topology: {e}")),
                Err(_) => Err(format!(
                    "declaring the topology took longer than {timeout:?}"
                )),
            };
        }
        // Publishes fail at once from here until the new connection is in place.
        let old = self.link.write().unwrap_or_else(|e| e.into_inner()).take();
        drop(old);
        let link = self.open_link().await?;
        *self.link.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(link));
        tracing::info!("reconnected to RabbitMQ");
        Ok(())
    }
}

/// The background task: repairs on request, retrying with exponential backoff until it works.
async fn maintain(shared: Arc<Shared>) {
    const FIRST_DELAY: Duration = Duration::from_millis(100);
    loop {
        shared.repair.notified().await;
        let mut delay = FIRST_DELAY;
        while let Err(e) = shared.repair().await {
            tracing::warn!(error = %e, retry_in = ?delay, "RabbitMQ hand-off not available");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(shared.options.max_reconnect_delay);
        }
    }
}

/// Forwards a connection's failures to the maintainer, so that it reconnects even while
/// nothing is being published.
async fn watch(connection: Arc<Connection>, shared: Weak<Shared>) {
    let mut events = std::pin::pin!(connection.events_listener());
    while let Some(event) = events.next().await {
        match event {
            lapin::Event::Error(e) => {
                tracing::warn!(error = %e, "RabbitMQ connection failed");
                match shared.upgrade() {
                    Some(shared) => shared.repair.notify_one(),
                    None => return,
                }
            }
            lapin::Event::ConnectionBlocked(reason) => {
                tracing::warn!(%reason, "RabbitMQ blocked publishing");
            }
            lapin::Event::ConnectionUnblocked => tracing::info!("RabbitMQ unblocked publishing"),
            _ => {}
        }
    }
}
