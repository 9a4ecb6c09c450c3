//! The load generator in miniature, so that it cannot rot: a few sockets against the
//! standalone server (in this process, on a free port, over a fresh data directory) and against
//! the raw broadcast baseline. Asserts what a benchmark relies on: every send acked, every
//! broadcast delivered to every member, latencies recorded; never how fast.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use loadgen::load::{self, Fleet, IdleSpec, RoomsSpec};
use loadgen::setup::Target;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The standalone server on 127.0.0.1:0; stops when dropped.
struct Standalone {
    addr: SocketAddr,
    data_dir: PathBuf,
    stop: CancellationToken,
}

impl Standalone {
    async fn start() -> Standalone {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        }
        let data_dir = std::env::temp_dir().join(format!("loadgen-smoke-{}", loadgen::run_id()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Defaults for everything else, whatever fields the server grows.
        let mut config = chat::Config::from_env().unwrap();
        config.listen = addr;
        config.data_dir = data_dir.clone();
        // The benchmarks send far faster than one person may.
        config.limits.send_rate = rate_limit::Rule::new(1_000_000, Duration::from_secs(1));
        let stop = CancellationToken::new();
        tokio::spawn(chat::run(config, listener, stop.clone()));
        Standalone {
            addr,
            data_dir,
            stop,
        }
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        self.stop.cancel();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn fleet(target: Target) -> Fleet {
    Fleet {
        target,
        sources: vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from([127, 0, 0, 2])],
        pids: vec![std::process::id()],
        register_concurrency: 4,
        users_cache: None,
    }
}

fn spec(addr: SocketAddr) -> RoomsSpec {
    RoomsSpec {
        send_addrs: vec![addr],
        recv_addrs: vec![addr],
        rooms: 2,
        room_size: 3,
        rates: vec![20, 40],
        step: Duration::from_millis(1500),
        // Generous: only reached if something is lost, and then the test fails anyway.
        drain: Duration::from_secs(20),
        p99_limit_ms: f64::INFINITY,
    }
}

/// Every step: every send acked, every member got every message, each delivery and each
/// ack has a latency.
fn assert_complete(steps: &[load::Step], rates: usize) {
    assert_eq!(steps.len(), rates, "{steps:#?}");
    for step in steps {
        let c = &step.counts;
        assert!(c.sent > 0, "{step:#?}");
        assert_eq!(
            (c.acked, c.refused, step.unanswered),
            (c.sent, 0, 0),
            "{step:#?}"
        );
        assert_eq!(c.delivered, c.sent * 3, "{step:#?}");
        assert_eq!(
            (step.lost, c.foreign, c.connections_lost),
            (0, 0, 0),
            "{step:#?}"
        );
        assert_eq!(c.delivery_latency.count, c.delivered, "{step:#?}");
        assert_eq!(c.ack_latency.count, c.acked, "{step:#?}");
        assert!(
            c.delivery_latency.p50_ms > 0.0
                && c.delivery_latency.max_ms >= c.delivery_latency.p99_ms
        );
        assert!(!step.saturated, "{step:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_against_the_standalone_server() {
    let server = Standalone::start().await;
    let fleet = fleet(Target::Chat {
        auth: format!("http://{}", server.addr),
        rooms: format!("http://{}", server.addr),
    });
    let steps = load::rooms(&fleet, &spec(server.addr), |_| {})
        .await
        .unwrap();
    assert_complete(&steps, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_against_the_raw_baseline() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(loadgen::raw::serve(listener));
    let steps = load::rooms(&fleet(Target::Relay), &spec(addr), |_| {})
        .await
        .unwrap();
    assert_complete(&steps, 2);
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_counted_and_weighed() {
    let server = Standalone::start().await;
    let fleet = fleet(Target::Chat {
        auth: format!("http://{}", server.addr),
        rooms: format!("http://{}", server.addr),
    });
    let spec = IdleSpec {
        addr: server.addr,
        levels: vec![5, 20],
        users: 3,
        settle: Duration::from_millis(100),
    };
    let levels = load::idle(&fleet, &spec, |_| {}).await.unwrap();
    assert_eq!(
        levels
            .iter()
            .map(|l| (l.connections, l.failed))
            .collect::<Vec<_>>(),
        [(5, 0), (20, 0)]
    );
    assert!(
        levels.iter().all(|l| l.rss_kib > 0 && l.rss_before_kib > 0),
        "{levels:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_is_refused() {
    let server = Standalone::start().await;
    let endpoint = loadgen::sio::Endpoint {
        addr: server.addr,
        source: IpAddr::from([127, 0, 0, 1]),
        auth: serde_json::json!({"token": "not-a-token"}),
    };
    let refused = loadgen::sio::Client::connect(&endpoint, Default::default()).await;
    assert!(
        matches!(refused, Err(loadgen::Error::Refused(ref m)) if m.contains("unauthorized")),
        "{:?}",
        refused.err()
    );
}
