//! [`Proxy`]: a loopback TCP proxy in front of a test server, so a test can break the network
//! between a client and the server without disturbing anyone else who uses that server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::{CancellationToken, DropGuard};

/// Forwards a free loopback port to an upstream `host:port` until dropped.
pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _stop: DropGuard,
}

#[derive(Default)]
struct State {
    /// Cancelled to drop the connections open now.
    cut: CancellationToken,
    /// New connections are closed at once while down.
    down: bool,
    /// Cancelled to stop forwarding without closing anything.
    frozen: CancellationToken,
}

impl Proxy {
    /// A proxy to `upstream` (`host:port`).
    pub async fn start(upstream: impl Into<String>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = CancellationToken::new();
        tokio::spawn(accept(
            listener,
            upstream.into(),
            state.clone(),
            stop.clone(),
        ));
        Proxy {
            addr,
            state,
            _stop: stop.drop_guard(),
        }
    }

    /// A proxy to the server of `url` (`scheme://[user:password@]host:port[/rest]`), and the
    /// same URL through the proxy.
    pub async fn for_url(url: &str) -> (Proxy, String) {
        let (scheme, rest) = url.split_once("://").expect("a scheme://host:port URL");
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((auth, rest)) => (format!("{auth}@"), rest),
            None => (String::new(), rest),
        };
        let (host_port, tail) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        assert!(
            !host_port.contains(','),
            "the proxy needs a single-host URL: {url}"
        );
        let proxy = Proxy::start(host_port).await;
        let through = format!("{scheme}://{auth}{}{tail}", proxy.addr);
        (proxy, through)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops every open connection; new ones are accepted again at once.
    pub fn cut(&self) {
        let old = std::mem::take(&mut self.state().cut);
        old.cancel();
    }

    /// Drops every open connection and refuses new ones until [`Proxy::up`].
    pub fn down(&self) {
        self.state().down = true;
        self.cut();
    }

    pub fn up(&self) {
        self.state().down = false;
    }

    /// From now on nothing passes either way; connections stay open and new ones are accepted,
    /// but nothing is ever answered: the case a timeout must catch.
    pub fn freeze(&self) {
        self.state().frozen.cancel();
    }
}

async fn accept(
    listener: TcpListener,
    upstream: String,
    state: Arc<Mutex<State>>,
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
        let (cut, down, frozen) = {
            let state = state.lock().unwrap_or_else(PoisonError::into_inner);
            (state.cut.clone(), state.down, state.frozen.clone())
        };
        if down {
            continue;
        }
        tokio::spawn(forward(client, upstream.clone(), cut, frozen, stop.clone()));
    }
}

async fn forward(
    mut client: TcpStream,
    upstream: String,
    cut: CancellationToken,
    frozen: CancellationToken,
    stop: CancellationToken,
) {
    if !frozen.is_cancelled() {
        let Ok(mut server) = TcpStream::connect(&upstream).await else {
            return;
        };
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
            () = cut.cancelled() => return,
            () = stop.cancelled() => return,
            () = frozen.cancelled() => {}
        }
    }
    // Frozen: hold the connection open, silent, until cut or the proxy goes away.
    tokio::select! {
        () = cut.cancelled() => {}
        () = stop.cancelled() => {}
    }
    drop(client);
}
