//! What a run measures: latencies in HDR histograms (µs), counts of sends, acks, refusals and
//! deliveries, and the servers' CPU time and resident memory read from `/proc`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency a histogram holds (60 s, in µs); anything slower is clamped to it.
const MAX_US: u64 = 60_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

/// Shared by every connection of a run; one clock for senders and receivers, which live in
/// the same process.
pub struct Recorder {
    base: Instant,
    deliveries: Mutex<Histogram<u64>>,
    acks: Mutex<Histogram<u64>>,
    sent: AtomicU64,
    acked: AtomicU64,
    refused: AtomicU64,
    delivered: AtomicU64,
    foreign: AtomicU64,
    connections_lost: AtomicU64,
    first_refusal: Mutex<Option<String>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            base: Instant::now(),
            deliveries: Mutex::new(histogram()),
            acks: Mutex::new(histogram()),
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            foreign: AtomicU64::new(0),
            connections_lost: AtomicU64::new(0),
            first_refusal: Mutex::new(None),
        }
    }
}

impl Recorder {
    /// Now, in µs since the recorder was made.
    pub fn now_us(&self) -> u64 {
        self.base.elapsed().as_micros() as u64
    }

    pub fn sent(&self) {
        self.sent.fetch_add(1, Relaxed);
    }

    pub fn delivered(&self, sent_us: u64) {
        let latency = self.now_us().saturating_sub(sent_us).clamp(1, MAX_US);
        self.deliveries.lock().unwrap().saturating_record(latency);
        self.delivered.fetch_add(1, Relaxed);
    }

    pub fn acked(&self, sent_us: u64) {
        let latency = self.now_us().saturating_sub(sent_us).clamp(1, MAX_US);
        self.acks.lock().unwrap().saturating_record(latency);
        self.acked.fetch_add(1, Relaxed);
    }

    /// A `{ok: false}` ack; the first one is kept to say why.
    pub fn refused(&self, body: &str) {
        self.refused.fetch_add(1, Relaxed);
        self.first_refusal
            .lock()
            .unwrap()
            .get_or_insert_with(|| body.chars().take(200).collect());
    }

    /// A `message` whose body is not one of ours.
    pub fn foreign_delivery(&self) {
        self.foreign.fetch_add(1, Relaxed);
    }

    pub fn connection_lost(&self) {
        self.connections_lost.fetch_add(1, Relaxed);
    }

    pub fn delivered_count(&self) -> u64 {
        self.delivered.load(Relaxed)
    }

    pub fn answered_count(&self) -> u64 {
        self.acked.load(Relaxed) + self.refused.load(Relaxed)
    }

    pub fn acked_count(&self) -> u64 {
        self.acked.load(Relaxed)
    }

    /// Takes everything recorded so far and starts afresh (between the steps of a run).
    pub fn take(&self) -> Counts {
        let deliveries = std::mem::replace(&mut *self.deliveries.lock().unwrap(), histogram());
        let acks = std::mem::replace(&mut *self.acks.lock().unwrap(), histogram());
        Counts {
            sent: self.sent.swap(0, Relaxed),
            acked: self.acked.swap(0, Relaxed),
            refused: self.refused.swap(0, Relaxed),
            delivered: self.delivered.swap(0, Relaxed),
            foreign: self.foreign.swap(0, Relaxed),
            connections_lost: self.connections_lost.swap(0, Relaxed),
            first_refusal: self.first_refusal.lock().unwrap().take(),
            delivery_latency: Latency::of(&deliveries),
            ack_latency: Latency::of(&acks),
        }
    }
}

/// The counts of one step.
#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    pub sent: u64,
    pub acked: u64,
    pub refused: u64,
    pub delivered: u64,
    pub foreign: u64,
    pub connections_lost: u64,
    pub first_refusal: Option<String>,
    pub delivery_latency: Latency,
    pub ack_latency: Latency,
}

/// Percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// CPU time and resident memory of a set of server processes.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Usage {
    /// user + system CPU seconds.
    pub cpu_secs: f64,
    /// Resident set size, KiB.
    pub rss_kib: u64,
}

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on every Linux ABI in use).
const TICKS_PER_SEC: f64 = 100.0;

/// Sums the usage of `pids`; a process that is gone counts as zero.
pub fn usage(pids: &[u32]) -> Usage {
    let mut total = Usage::default();
    for pid in pids {
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The command name may hold spaces; the fields after its closing parenthesis don't.
            if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
                let fields: Vec<&str> = rest.split_whitespace().collect();
                // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
                let ticks: u64 = fields
                    .get(11..13)
                    .map(|f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum())
                    .unwrap_or(0);
                total.cpu_secs += ticks as f64 / TICKS_PER_SEC;
            }
        }
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            let rss = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or(0);
            total.rss_kib += rss;
        }
    }
    total
}
