//! The real `db-writer` binary, killed with SIGKILL twice mid-stream of 10,000 messages and
//! restarted: nothing is lost and nothing is stored twice.

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
    fn start(world: &World) -> Process {
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
            .env("CHAT_AMQP_URL", amqp_url())
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
            Duration::from_secs(20),
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
async fn the_binary_killed_twice_mid_stream_loses_nothing_and_duplicates_nothing() {
    let world = World::new().await;
    let (rooms, messages) = messages_in_rooms(4, 2_500);
    let total = messages.len();

    let process = Process::start(&world);
    process.wait_ready().await;
    let events = created(&messages);
    let publishing = {
        let publisher = world.publisher.clone();
        tokio::spawn(async move { publish_all_with(&publisher, events).await })
    };

    let mut process = process;
    for threshold in [total / 5, total / 2] {
        eventually_every(
            Duration::from_secs(60),
            Duration::from_millis(250),
            "progress before the kill",
            || async { world.count_all().await >= threshold as u64 },
        )
        .await;
        process.kill_9().await;
        process = Process::start(&world);
        process.wait_ready().await;
    }

    publishing.await.expect("publishing finished");
    eventually_every(
        Duration::from_secs(120),
        Duration::from_millis(250),
        "all 10,000 stored",
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
