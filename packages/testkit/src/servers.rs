//! [`PrivateServers`]: test servers of a test's own, started by `scripts/test-servers` and
//! stopped (by the PIDs its start recorded) when dropped.

use std::path::PathBuf;
use std::process::Stdio;

/// A private set of test servers: e.g. a RabbitMQ node a test may stop and start.
pub struct PrivateServers {
    script: PathBuf,
    dir: String,
    exports: String,
    /// The Erlang VM this value stopped with SIGSTOP, resumed on drop.
    frozen: Option<String>,
}

impl PrivateServers {
    /// Starts `servers` (names as `CHAT_TEST_SERVERS` takes them, e.g. `"rabbitmq"`).
    pub async fn start(servers: &str) -> PrivateServers {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test-servers");
        let out = tokio::process::Command::new(&script)
            .arg("start")
            .env("CHAT_TEST_SERVERS", servers)
            .stdin(Stdio::null())
            .output()
            .await
            .expect("run scripts/test-servers");
        let exports = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "scripts/test-servers start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut servers = PrivateServers {
            script,
            dir: String::new(),
            exports,
            frozen: None,
        };
        servers.dir = servers.var("CHAT_TEST_SERVERS_DIR");
        servers
    }

    /// A variable the start exported, e.g. `CHAT_TEST_AMQP_URL`.
    pub fn var(&self, name: &str) -> String {
        self.exports
            .lines()
            .find_map(|line| line.strip_prefix(&format!("export {name}=")))
            .map(unquote)
            .unwrap_or_else(|| panic!("scripts/test-servers printed no {name}:\n{}", self.exports))
    }

    pub fn amqp_url(&self) -> String {
        self.var("CHAT_TEST_AMQP_URL")
    }

    /// `rabbitmqctl ARGS` against the private node, e.g. `stop_app` (the broker goes away,
    /// its port closed) and `start_app` (back, with its durable queues).
    pub async fn rabbitmqctl(&self, args: &[&str]) {
        let out = tokio::process::Command::new(self.var("CHAT_TEST_RABBITMQCTL"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .expect("run rabbitmqctl");
        assert!(
            out.status.success(),
            "rabbitmqctl {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Sends `signal` (`-STOP`, `-CONT`) to the RabbitMQ node's Erlang VM: `-STOP` makes a
    /// broker that hangs without closing its sockets.
    pub async fn signal_rabbitmq(&mut self, signal: &str) {
        let pid = std::fs::read_to_string(format!("{}/rabbitmq/beam.pid", self.dir))
            .expect("the node's beam.pid");
        let pid = pid.trim().to_owned();
        let status = tokio::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .await
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid}");
        self.frozen = (signal == "-STOP").then_some(pid);
    }
}

impl Drop for PrivateServers {
    fn drop(&mut self) {
        if let Some(pid) = &self.frozen {
            let _ = std::process::Command::new("kill")
                .args(["-CONT", pid])
                .status();
        }
        let _ = std::process::Command::new(&self.script)
            .args(["stop", &self.dir])
            .stdin(Stdio::null())
            .status();
    }
}

/// Undoes bash's `printf %q` for the values test-servers prints (paths and URLs).
fn unquote(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return inner.to_owned();
    }
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}
