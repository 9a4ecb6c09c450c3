//! The real `db-writer` binary, killed with SIGKILL twice and its broker restarted, mid-stream
//! of 50,000 messages: nothing is lost and nothing is stored twice. The broker is a RabbitMQ
//! node of the test's own, so the node other tests share never blinks.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::support::*;

/// One run of the binary, its ops endpoints on `port`.
struct Process {
    child: Child,
    port: u16,
}

impl Process {
    fn start(world: &World, redis_prefix: &str) -> Process {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let logs = std::env::var_os("TEST_LOG").is_some();
        let output = || {
            if logs {
                Stdio::inherit()
            } else {
                Stdio::null()
            }
        };
        let child = Command::new(env!("CARGO_BIN_EXE_db-writer"))
            .env("CHAT_DB_WRITER_LISTEN", format!("127.0.0.1:{port}"))
            .env("CHAT_MONGODB_URL", mongodb_url())
            .env("CHAT_MONGODB_DATABASE", &world.database)
            .env("CHAT_AMQP_URL", &world.amqp_url)
            .env("CHAT_REDIS_URL", redis_url())
            .env("CHAT_REDIS_PREFIX", redis_prefix)
            .env("CHAT_AMQP_PREFIX", &world.topology.prefix)
            .env("RUST_LOG", if logs { "info" } else { "warn" })
            .stdout(output())
            .stderr(output())
            .kill_on_drop(true)
            .spawn()
            .expect("start the db-writer binary");
        Process { child, port }
    }

    /// The status line and body of a GET on the ops endpoints, or `None` while not listening.
    async fn get(&self, path: &str) -> Option<String> {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await.ok()?;
        Some(response)
    }

    async fn wait_ready(&self) {
        eventually(
            Duration::from_secs(60),
            "db-writer answers /readyz with 200",
            || async {
                self.get("/readyz")
                    .await
                    .is_some_and(|r| r.starts_with("HTTP/1.1 200"))
            },
        )
        .await;
    }

    async fn kill_9(mut self) {
        self.child.start_kill().expect("SIGKILL");
        self.child.wait().await.expect("reap");
    }

    /// SIGTERM, and the process must exit cleanly within 15 s.
    async fn terminate(mut self) {
        let pid = self.child.id().expect("still running").to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("run kill");
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("db-writer exits within 15 s of SIGTERM")
            .expect("reap");
        assert!(
            status.success(),
            "db-writer exits cleanly on SIGTERM: {status}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_twice_and_its_broker_restarted_mid_stream_it_loses_and_duplicates_nothing() {
    let broker = testkit::PrivateServers::start("rabbitmq").await;
    let world = World::on(broker.amqp_url()).await;
    let redis_prefix = format!("{}:", unique("dbw"));
    let (rooms, messages) = messages_in_rooms(10, 5_000);
    let total = messages.len();

    let mut process = Process::start(&world, &redis_prefix);
    process.wait_ready().await;
    let events = created(&messages);
    let publishing = {
        let publisher = world.publisher.clone();
        // Like a socket node whose client retries: a publish that failed while the broker was
        // away is sent again (the writer takes a copy that did arrive as a duplicate).
        tokio::spawn(async move { publish_all_retrying(&publisher, events).await })
    };

    for (step, threshold) in [(1, total / 5), (2, total * 2 / 5), (3, total * 3 / 5)] {
        eventually_every(
            Duration::from_secs(600),
            Duration::from_secs(1),
            "progress before the next fault",
            || async { world.count_all().await >= threshold as u64 },
        )
        .await;
        if step == 2 {
            broker.rabbitmqctl(&["stop_app"]).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            broker.rabbitmqctl(&["start_app"]).await;
            // Back without a restart: it reconnects by itself and says so on /readyz.
            process.wait_ready().await;
        } else {
            process.kill_9().await;
            process = Process::start(&world, &redis_prefix);
            process.wait_ready().await;
        }
    }

    publishing.await.expect("publishing finished");
    eventually_every(
        Duration::from_secs(900),
        Duration::from_secs(1),
        "all 50,000 stored",
        || async { world.count_all().await >= total as u64 },
    )
    .await;
    let metrics = process.get("/metrics").await.expect("/metrics answers");
    for metric in [
        "chat_writer_messages_persisted_total",
        "chat_writer_batch_size",
        "chat_writer_queue_messages",
    ] {
        assert!(metrics.contains(metric), "/metrics exports {metric}");
    }
    process.terminate().await;

    assert_eq!(
        world.count_all().await,
        total as u64,
        "exactly 50,000 stored"
    );
    assert_stored_exactly(&world, &rooms, &messages).await;
    assert_eq!(
        world.ready_in(&world.queue()).await,
        0,
        "nothing left queued"
    );
    assert!(
        world.drain(&world.dead_queue()).await.is_empty(),
        "nothing dead-lettered"
    );
}
