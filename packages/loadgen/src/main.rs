//! `loadgen`: the benchmarks' load generator. One JSON object per line on stdout for each step
//! or level measured; progress on stderr.
//!
//! ```text
//! loadgen rooms  --target chat|relay [--http URL [--auth URL]] --send ADDR[,ADDR] [--recv ADDR[,ADDR]]
//!                --rooms K --room-size S --rates R1,R2,… [--step-secs 10] [--drain-secs 5]
//!                [--p99-limit-ms 250]   common options
//! loadgen idle   --target chat|relay [--http URL] --addr ADDR --levels N1,N2,…
//!                [--users 100] [--settle-secs 3]   common options
//! loadgen raw-server --listen ADDR
//! loadgen plot --results FILE.jsonl --dir DIR
//!
//! --http is where rooms are made (a socket node); --auth where users register, if elsewhere.
//! common options: [--sources 127.0.0.1,127.0.0.2,…] [--pids PID,PID] [--users-cache FILE]
//!                 [--register-concurrency 4] [--label TEXT]
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use loadgen::load::{self, Fleet, IdleSpec, RoomsSpec};
use loadgen::setup::Target;
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut argv = std::env::args().skip(1);
    let command = argv.next().unwrap_or_default();
    let args = Args::parse(argv)?;
    match command.as_str() {
        "raw-server" => {
            let listener = tokio::net::TcpListener::bind(args.get::<SocketAddr>("listen")?).await?;
            eprintln!("raw broadcast server on {}", listener.local_addr()?);
            loadgen::raw::serve(listener).await?;
        }
        "rooms" => {
            let fleet = args.fleet()?;
            let send: Vec<SocketAddr> = args.list("send")?;
            let spec = RoomsSpec {
                recv_addrs: if args.has("recv") {
                    args.list("recv")?
                } else {
                    send.clone()
                },
                send_addrs: send,
                rooms: args.get("rooms")?,
                room_size: args.get("room-size")?,
                rates: args.list("rates")?,
                step: Duration::from_secs_f64(args.get_or("step-secs", 10.0)?),
                drain: Duration::from_secs_f64(args.get_or("drain-secs", 5.0)?),
                p99_limit_ms: args.get_or("p99-limit-ms", 250.0)?,
            };
            let label = args.raw("label").unwrap_or_default();
            load::rooms(&fleet, &spec, |step| {
                eprintln!(
                    "{label} {} msg/s × {}: delivered {}/{} p99 {:.2} ms, ack p99 {:.2} ms, {:.0} deliveries/CPU-s{}",
                    step.rate,
                    step.room_size,
                    step.counts.delivered,
                    step.expected_deliveries,
                    step.counts.delivery_latency.p99_ms,
                    step.counts.ack_latency.p99_ms,
                    step.deliveries_per_cpu_sec,
                    if step.saturated { " (saturated)" } else { "" },
                );
                println!("{}", json!({"label": label, "kind": "rooms", "step": step}));
            })
            .await?;
        }
        "idle" => {
            let fleet = args.fleet()?;
            let spec = IdleSpec {
                addr: args.get("addr")?,
                levels: args.list("levels")?,
                users: args.get_or("users", 100)?,
                settle: Duration::from_secs_f64(args.get_or("settle-secs", 3.0)?),
            };
            let label = args.raw("label").unwrap_or_default();
            load::idle(&fleet, &spec, |level| {
                eprintln!(
                    "{label} {} connections ({} failed): {:.2} KiB each",
                    level.connections, level.failed, level.kib_per_connection
                );
                println!(
                    "{}",
                    json!({"label": label, "kind": "idle", "level": level})
                );
            })
            .await?;
        }
        "plot" => {
            let text = std::fs::read_to_string(args.get::<PathBuf>("results")?)?;
            let results: Vec<serde_json::Value> = text
                .lines()
                .filter(|l| !l.is_empty())
                .map(serde_json::from_str)
                .collect::<Result<_, _>>()?;
            for file in loadgen::plot::all(&results, &args.get::<PathBuf>("dir")?)? {
                println!("{file}");
            }
        }
        _ => bail!(
            "usage: loadgen rooms|idle|raw-server|plot [--option value]… (see the crate docs)"
        ),
    }
    Ok(())
}

/// `--key value` pairs.
struct Args(HashMap<String, String>);

impl Args {
    fn parse(mut argv: impl Iterator<Item = String>) -> anyhow::Result<Args> {
        let mut map = HashMap::new();
        while let Some(key) = argv.next() {
            let key = key
                .strip_prefix("--")
                .with_context(|| format!("unexpected {key}"))?;
            let value = argv
                .next()
                .with_context(|| format!("--{key} needs a value"))?;
            map.insert(key.to_string(), value);
        }
        Ok(Args(map))
    }

    fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    fn raw(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }

    fn get<T: FromStr>(&self, key: &str) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        let value = self
            .0
            .get(key)
            .with_context(|| format!("--{key} is required"))?;
        value
            .parse()
            .map_err(|e| anyhow::anyhow!("--{key} {value}: {e}"))
    }

    fn get_or<T: FromStr>(&self, key: &str, default: T) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        if self.has(key) {
            self.get(key)
        } else {
            Ok(default)
        }
    }

    fn list<T: FromStr>(&self, key: &str) -> anyhow::Result<Vec<T>>
    where
        T::Err: std::fmt::Display,
    {
        let value = self
            .0
            .get(key)
            .with_context(|| format!("--{key} is required"))?;
        value
            .split(',')
            .filter(|v| !v.is_empty())
            .map(|v| v.parse().map_err(|e| anyhow::anyhow!("--{key} {v}: {e}")))
            .collect()
    }

    fn fleet(&self) -> anyhow::Result<Fleet> {
        let target = match self.raw("target").as_deref() {
            Some("chat") => {
                let rooms: String = self.get("http")?;
                let auth = self.raw("auth").unwrap_or_else(|| rooms.clone());
                Target::Chat { auth, rooms }
            }
            Some("relay") => Target::Relay,
            other => bail!("--target chat|relay, not {other:?}"),
        };
        Ok(Fleet {
            target,
            sources: if self.has("sources") {
                self.list("sources")?
            } else {
                (1..=8).map(|i| IpAddr::from([127, 0, 0, i])).collect()
            },
            pids: if self.has("pids") {
                self.list("pids")?
            } else {
                Vec::new()
            },
            register_concurrency: self.get_or("register-concurrency", 4)?,
            users_cache: self.raw("users-cache").map(PathBuf::from),
        })
    }
}
