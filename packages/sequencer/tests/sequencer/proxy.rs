//! A loopback TCP proxy in front of the test Redis that can stop forwarding without closing
//! anything: to the client, Redis simply stops answering, which is the case a timeout must
//! catch (a closed connection is the easy one).

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::{CancellationToken, DropGuard};

pub struct Proxy {
    addr: SocketAddr,
    frozen: CancellationToken,
    _stop: DropGuard,
}

impl Proxy {
    /// Forwards `127.0.0.1:<free port>` to the Redis of `redis_url`, until dropped.
    pub async fn start(redis_url: &str) -> Proxy {
        let upstream = upstream_addr(redis_url);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let frozen = CancellationToken::new();
        let stop = CancellationToken::new();
        tokio::spawn(accept(listener, upstream, frozen.clone(), stop.clone()));
        Proxy {
            addr,
            frozen,
            _stop: stop.drop_guard(),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// From now on nothing passes either way; connections stay open and new ones are
    /// accepted, but nothing is ever answered.
    pub fn freeze(&self) {
        self.frozen.cancel();
    }
}

async fn accept(
    listener: TcpListener,
    upstream: String,
    frozen: CancellationToken,
    stop: CancellationToken,
) {
    loop {
        let client = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => client,
                Err(_) => return,
            },
        };
        tokio::spawn(forward(
            client,
            upstream.clone(),
            frozen.clone(),
            stop.clone(),
        ));
    }
}

async fn forward(
    mut client: TcpStream,
    upstream: String,
    frozen: CancellationToken,
    stop: CancellationToken,
) {
    if !frozen.is_cancelled() {
        let Ok(mut server) = TcpStream::connect(&upstream).await else {
            return;
        };
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
            () = frozen.cancelled() => {}
            () = stop.cancelled() => return,
        }
    }
    // Frozen: hold the connection open, silent, until the proxy goes away.
    stop.cancelled().await;
    drop(client);
}

/// `host:port` of a `redis://[user:password@]host:port[/db]` URL.
fn upstream_addr(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    let host_port = rest.split('/').next().unwrap_or(rest);
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:6379")
    }
}
