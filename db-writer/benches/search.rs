//! Message search, measured two ways. Not part of the test run: `scripts/bench search` starts
//! the test servers, runs this, and writes the figures into the "Search" section of
//! BENCHMARKS.md.
//!
//! 1. **Latency in the standalone store**: 1,000,000 messages (`CHAT_BENCH_SEARCH_MESSAGES`) in
//!    200 rooms of an SQLite file with its FTS5 index, the searcher a member of 50 of them; each
//!    query is a page of 20 through `store::search::find`, as the API runs it (index, then the
//!    check of every candidate), 100 times after 5 to warm up.
//! 2. **Index lag in the distributed mode**: `message.created` events published to RabbitMQ at
//!    2,000 a second (the durable-ack load: the rate the distributed server holds with every
//!    send acknowledged, BENCHMARKS.md), and at 500, for 20 s each, while db-writer's two consumers (messages and
//!    search index) run against the MongoDB of the test servers; for every 100th message, the
//!    lag is the time from its publish being confirmed to both its index document and the
//!    message being stored (looked up by id), when a search would first return it.
//!
//! `CHAT_BENCH_SEARCH_MESSAGES` sets how many messages part 1 indexes.
//! Reads `CHAT_TEST_AMQP_URL` and `CHAT_TEST_MONGODB_URL`; `CHAT_BENCH_STORE` names the MongoDB
//! server in the report; `CHAT_BENCH_OUT` is the report to update (default: print only).

use std::sync::Arc;
use std::time::{Duration, Instant};

use db_writer::{Consumer, ConsumerConfig, ConsumerStatus, SearchIndexer, Writer};
use futures_util::StreamExt;
use handoff::{ConsumerQueue, HandOff, RabbitHandOff, Topology};
use models::chat::Message;
use models::events::Event;
use models::time::Timestamp;
use service_kit::config::Secret;
use store::search::{self, SearchQuery, text};
use store::{ChatStore, MongoStore, RoomRecord, SqliteStore};
use tokio_util::sync::CancellationToken;

const ROOMS: usize = 200;
const MY_ROOMS: usize = 50;
const VOCABULARY: usize = 5_000;
const RUNS: usize = 100;
/// Publish rates of the lag runs: the durable-ack load (2,000/s) and a quarter of it.
const LAG_RATES: [u64; 2] = [500, 2_000];
const LAG_SECONDS: u64 = 20;
const PROBE_EVERY: u64 = 100;

/// A small deterministic generator (xorshift), so every run indexes the same text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Words of made-up syllables, with a few real ones (accents included) among the common ones.
fn vocabulary() -> Vec<String> {
    const SYLLABLES: [&str; 20] = [
        "ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "ve", "da", "zu", "ri", "an", "el", "or",
        "us", "im", "be", "go", "fa",
    ];
    const REAL: [&str; 8] = [
        "café", "crème", "meeting", "report", "lunch", "deploy", "naïve", "über",
    ];
    (0..VOCABULARY)
        .map(|i| {
            if i % 50 == 7 && i / 50 < REAL.len() {
                return REAL[i / 50].to_string();
            }
            let mut n = i + 20;
            let mut word = String::new();
            while n > 0 {
                word.push_str(SYLLABLES[n % 20]);
                n /= 20;
            }
            word
        })
        .collect()
}

/// Samples word ranks with Zipf-like weights (1/rank), as words occur in chat.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize) -> Self {
        let mut total = 0.0;
        Zipf(
            (1..=n)
                .map(|rank| {
                    total += 1.0 / rank as f64;
                    total
                })
                .collect(),
        )
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let x = (rng.next() as f64 / u64::MAX as f64) * self.0[self.0.len() - 1];
        self.0.partition_point(|&c| c < x).min(self.0.len() - 1)
    }
}

const JAPANESE: [&str; 4] = [
    "東京タワーへ行く",
    "会議は三時からです",
    "新しい機能をリリースしました",
    "ラーメンを食べに行こう",
];

/// A word that only rooms the searcher is not in have (1 message in 100 of theirs).
const OTHERS_ONLY: &str = "orbitalx";

fn body(rng: &mut Rng, words: &[String], zipf: &Zipf, room: usize) -> String {
    if rng.below(100) < 3 {
        return JAPANESE[rng.below(JAPANESE.len())].to_string();
    }
    let n = 6 + rng.below(10);
    let mut body: Vec<&str> = (0..n).map(|_| words[zipf.sample(rng)].as_str()).collect();
    if room >= MY_ROOMS && rng.below(100) == 0 {
        body.push(OTHERS_ONLY);
    }
    body.join(" ")
}

fn message(room_id: &str, seq: u64, body: String, at: i64) -> Message {
    Message {
        id: uuid::Uuid::now_v7().to_string(),
        room_id: room_id.to_owned(),
        seq,
        sender_id: "bench-user".into(),
        client_id: uuid::Uuid::now_v7().to_string(),
        body,
        created_at: Timestamp::from_millis(at),
        ..Message::default()
    }
}

fn room(i: usize) -> RoomRecord {
    RoomRecord {
        id: format!("bench-room-{i:03}"),
        kind: models::chat::RoomKind::Group,
        name: format!("room {i}"),
        created_by: "bench-user".into(),
        created_at: Timestamp::from_millis(1_700_000_000_000),
        direct_key: None,
        members: vec!["bench-user".into()],
        last_seq: 0,
        rev: 0,
        last_activity: Timestamp::from_millis(1_700_000_000_000),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

struct Latency {
    what: String,
    query: String,
    hits: usize,
    p50_ms: f64,
    p99_ms: f64,
}

async fn measure(store: &SqliteStore, rooms: &[String], what: &str, q: &str) -> Latency {
    let query = SearchQuery {
        text: text::tokens(q),
        rooms: rooms.to_vec(),
        before: None,
        limit: 20,
    };
    let mut times = Vec::with_capacity(RUNS);
    let mut hits = 0;
    for run in 0..RUNS + 5 {
        let started = Instant::now();
        let found = search::find(store, query.clone()).await.expect("search");
        if run >= 5 {
            times.push(started.elapsed());
        }
        hits = found.messages.len();
    }
    times.sort();
    Latency {
        what: what.into(),
        query: q.into(),
        hits,
        p50_ms: percentile(&times, 0.5),
        p99_ms: percentile(&times, 0.99),
    }
}

struct Standalone {
    messages: usize,
    insert_per_sec: f64,
    file_mib: u64,
    latencies: Vec<Latency>,
}

async fn standalone(n: usize) -> Standalone {
    let dir = std::env::temp_dir().join(format!("search-bench-{}", uuid::Uuid::now_v7().simple()));
    let store = SqliteStore::open(dir.join("chat.db")).expect("SQLite");
    let rooms: Vec<RoomRecord> = (0..ROOMS).map(room).collect();
    for r in &rooms {
        store.create_room(r).await.expect("room");
    }
    let words = vocabulary();
    let zipf = Zipf::new(words.len());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seqs = vec![0u64; ROOMS];
    let started = Instant::now();
    let mut batch = Vec::with_capacity(2_000);
    for i in 0..n {
        let r = rng.below(ROOMS);
        seqs[r] += 1;
        let text = body(&mut rng, &words, &zipf, r);
        batch.push(message(
            &rooms[r].id,
            seqs[r],
            text,
            1_700_000_000_000 + i as i64,
        ));
        if batch.len() == 2_000 || i + 1 == n {
            store.insert_messages(&batch).await.expect("insert");
            batch.clear();
        }
        if (i + 1) % 100_000 == 0 {
            eprintln!("{} messages stored and indexed", i + 1);
        }
    }
    let insert_per_sec = n as f64 / started.elapsed().as_secs_f64();
    let file_mib = std::fs::metadata(dir.join("chat.db")).map_or(0, |m| m.len()) / (1 << 20);

    let mine: Vec<String> = rooms[..MY_ROOMS].iter().map(|r| r.id.clone()).collect();
    let common = &words[0];
    let mid = &words[300];
    let rare = &words[VOCABULARY - 1];
    let queries = [
        (
            "the 2-letter prefix of the most common word",
            common[..2].to_string(),
        ),
        ("the most common word", common.clone()),
        ("a word of rank 300", mid.clone()),
        ("a rare word", rare.clone()),
        ("two words", format!("{common} {mid}")),
        ("without accents", "creme".to_string()),
        ("Japanese, inside a run", "京タ".to_string()),
        ("no match", "zzqx".to_string()),
        (
            "only in others' rooms (worst case)",
            OTHERS_ONLY.to_string(),
        ),
    ];
    let mut latencies = Vec::new();
    for (what, q) in queries {
        let l = measure(&store, &mine, what, &q).await;
        eprintln!(
            "{what:45} {q:20} hits {:>2}  p50 {:.2} ms  p99 {:.2} ms",
            l.hits, l.p50_ms, l.p99_ms
        );
        latencies.push(l);
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Standalone {
        messages: n,
        insert_per_sec,
        file_mib,
        latencies,
    }
}

struct Lag {
    rate: u64,
    probes: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    sent: u64,
}

async fn distributed(amqp: &str, mongodb: &str, rate: u64) -> Lag {
    let name = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let topology = Topology::with_prefix(name.clone());
    let store = MongoStore::connect(mongodb, &name).await.expect("MongoDB");
    let rooms: Vec<RoomRecord> = (0..10).map(room).collect();
    for r in &rooms {
        store.create_room(r).await.expect("room");
    }
    let publisher = RabbitHandOff::connect(amqp, topology.clone())
        .await
        .expect("RabbitMQ");
    let config = ConsumerConfig::new(Secret::new(amqp.to_owned()), topology.clone());
    let shutdown = CancellationToken::new();
    let writer = Consumer::new(
        Arc::new(Writer::new(Arc::new(store.clone()))),
        config.clone(),
    );
    let indexer = Consumer::of_queue(
        ConsumerQueue::SearchIndex,
        Arc::new(SearchIndexer::new(Arc::new(store.clone()))),
        config,
        ConsumerStatus::default(),
    );
    let tasks = [
        tokio::spawn(writer.run(shutdown.clone())),
        tokio::spawn(indexer.run(shutdown.clone())),
    ];

    let db = mongodb::Client::with_uri_str(mongodb)
        .await
        .expect("MongoDB")
        .database(&name);
    let room_ids: Vec<String> = rooms.iter().map(|r| r.id.clone()).collect();
    let words = vocabulary();
    let zipf = Zipf::new(words.len());
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let total = rate * LAG_SECONDS;
    let mut probes = Vec::new();
    let mut seqs = [0u64; 10];
    let tick = Duration::from_millis(10);
    let per_tick = rate / 100;
    let mut interval = tokio::time::interval(tick);
    let mut sent = 0;
    while sent < total {
        interval.tick().await;
        let mut events = Vec::with_capacity(per_tick as usize);
        let mut probe = None;
        for _ in 0..per_tick {
            let r = rng.below(10);
            seqs[r] += 1;
            let text = body(&mut rng, &words, &zipf, 0);
            let m = message(&room_ids[r], seqs[r], text, Timestamp::now().millis());
            if sent % PROBE_EVERY == 0 {
                probe = Some(m.id.clone());
            }
            sent += 1;
            events.push(Event::MessageCreated { message: m });
        }
        futures_util::stream::iter(events)
            .map(|event| {
                let publisher = &publisher;
                async move { publisher.publish(&event).await.expect("publish") }
            })
            .buffer_unordered(64)
            .collect::<Vec<()>>()
            .await;
        if let Some(id) = probe {
            let db = db.clone();
            probes.push(tokio::spawn(async move {
                let confirmed = Instant::now();
                // Both documents a search needs, by id: the index's and the message.
                let filter = mongodb::bson::doc! { "_id": &id };
                let index = db.collection::<mongodb::bson::Document>("message_search");
                let messages = db.collection::<mongodb::bson::Document>("messages");
                loop {
                    let indexed = index.find_one(filter.clone()).await.expect("find");
                    if indexed.is_some()
                        && messages
                            .find_one(filter.clone())
                            .await
                            .expect("find")
                            .is_some()
                    {
                        return confirmed.elapsed();
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }
    }
    let mut lags = Vec::new();
    for probe in probes {
        lags.push(probe.await.expect("probe"));
    }
    shutdown.cancel();
    for task in tasks {
        task.await.expect("consumer");
    }
    lags.sort();
    Lag {
        rate,
        probes: lags.len(),
        p50_ms: percentile(&lags, 0.5),
        p99_ms: percentile(&lags, 0.99),
        max_ms: lags.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        sent,
    }
}

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run this through `scripts/bench search`"))
}

fn report(s: &Standalone, lags: &[Lag], store: &str) -> String {
    let mut out = String::new();
    let w = |out: &mut String, line: &str| {
        out.push_str(line);
        out.push('\n');
    };
    w(&mut out, "<!-- search -->");
    w(&mut out, "## Search");
    w(&mut out, "");
    w(
        &mut out,
        &format!(
            "Written by `scripts/bench search` (`db-writer/benches/search.rs` says how) on {}, {}.",
            &Timestamp::now().to_rfc3339()[..10],
            testkit::machine()
        ),
    );
    w(&mut out, "");
    w(
        &mut out,
        &format!(
            "**Standalone**: {} messages in {ROOMS} rooms of one SQLite file with its FTS5 index \
             (stored and indexed at {:.0} messages/s in batches of 2,000; the file is {} MiB); \
             the searcher is in {MY_ROOMS} of the rooms; a page of 20, {RUNS} times each.",
            s.messages, s.insert_per_sec, s.file_mib
        ),
    );
    w(&mut out, "");
    w(&mut out, "| query | q | hits | p50 ms | p99 ms |");
    w(&mut out, "|---|---|---:|---:|---:|");
    for l in &s.latencies {
        w(
            &mut out,
            &format!(
                "| {} | `{}` | {} | {:.2} | {:.2} |",
                l.what, l.query, l.hits, l.p50_ms, l.p99_ms
            ),
        );
    }
    w(&mut out, "");
    w(
        &mut out,
        "The costly queries are short prefixes of the most common words: FTS5 merges the \
         lists of every word with that prefix, and a word in most messages has a long list. A \
         query whose matches are all outside the searcher's rooms walks all of them.",
    );
    w(&mut out, "");
    w(
        &mut out,
        &format!(
            "**Distributed, index lag**: `message.created` events published to RabbitMQ for \
             {LAG_SECONDS} s while db-writer's two consumers (messages, search index) ran on \
             {store}; for one message in {PROBE_EVERY}, the lag is the time from its publish's \
             confirm to both its index document and the message being stored (looked up by id), \
             when a search would first return it."
        ),
    );
    w(&mut out, "");
    w(
        &mut out,
        "| published/s | events | probes | lag p50 ms | lag p99 ms | lag max ms |",
    );
    w(&mut out, "|---:|---:|---:|---:|---:|---:|");
    for lag in lags {
        w(
            &mut out,
            &format!(
                "| {} | {} | {} | {:.0} | {:.0} | {:.0} |",
                lag.rate, lag.sent, lag.probes, lag.p50_ms, lag.p99_ms, lag.max_ms
            ),
        );
    }
    w(&mut out, "<!-- /search -->");
    out
}

#[tokio::main]
async fn main() {
    let amqp = env("CHAT_TEST_AMQP_URL");
    let mongodb = env("CHAT_TEST_MONGODB_URL");
    let n: usize = std::env::var("CHAT_BENCH_SEARCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let store = std::env::var("CHAT_BENCH_STORE").unwrap_or_else(|_| "MongoDB".into());

    let standalone = standalone(n).await;
    let mut lags = Vec::new();
    for rate in LAG_RATES {
        let lag = distributed(&amqp, &mongodb, rate).await;
        eprintln!(
            "{rate}/s: index lag over {} probes: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            lag.probes, lag.p50_ms, lag.p99_ms, lag.max_ms
        );
        lags.push(lag);
    }
    let section = report(&standalone, &lags, &store);
    print!("{section}");
    if let Ok(path) = std::env::var("CHAT_BENCH_OUT") {
        let previous = std::fs::read_to_string(&path).unwrap_or_default();
        let updated = match (
            previous.find("<!-- search -->"),
            previous.find("<!-- /search -->"),
        ) {
            (Some(start), Some(end)) => {
                let end = end + "<!-- /search -->\n".len().min(previous.len() - end);
                format!("{}{section}{}", &previous[..start], &previous[end..])
            }
            _ => format!("{}\n{section}", previous.trim_end()),
        };
        std::fs::write(&path, updated).expect("write the report");
        eprintln!("updated {path}");
    }
}
