//! What both presence implementations promise: a user comes online with the first socket and
//! goes offline with the last, on whichever nodes the sockets are, each transition reported to
//! exactly one caller even when sockets come and go concurrently.

use std::sync::Arc;

use presence::Presence;

use crate::{Rig, on_local, on_redis, users};

async fn online_from_the_first_socket_to_the_last(rig: Rig) {
    let p = rig.node().await;
    assert!(p.connected("u", "s1").await.unwrap(), "first socket");
    assert!(!p.connected("u", "s2").await.unwrap(), "second socket");
    assert_eq!(p.online(&users(&["u", "v"])).await.unwrap(), [true, false]);
    assert!(!p.disconnected("u", "s1").await.unwrap(), "one socket left");
    assert_eq!(p.online(&users(&["u"])).await.unwrap(), [true]);
    assert!(p.disconnected("u", "s2").await.unwrap(), "last socket");
    assert_eq!(p.online(&users(&["u"])).await.unwrap(), [false]);
    // Gone already: nothing changes.
    assert!(!p.disconnected("u", "s2").await.unwrap());
    // And back.
    assert!(p.connected("u", "s3").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_from_the_first_socket_to_the_last_on_local() {
    on_local(online_from_the_first_socket_to_the_last).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_from_the_first_socket_to_the_last_on_redis() {
    on_redis(online_from_the_first_socket_to_the_last).await;
}

/// Sockets of one user on two nodes count together.
async fn sockets_on_two_nodes(rig: Rig) {
    let (a, b) = (rig.node().await, rig.node().await);
    assert!(a.connected("u", "a1").await.unwrap());
    assert!(!b.connected("u", "b1").await.unwrap());
    for node in [&a, &b] {
        assert_eq!(node.online(&users(&["u"])).await.unwrap(), [true]);
    }
    assert!(!a.disconnected("u", "a1").await.unwrap());
    assert_eq!(a.online(&users(&["u"])).await.unwrap(), [true]);
    assert!(b.disconnected("u", "b1").await.unwrap());
    for node in [&a, &b] {
        assert_eq!(node.online(&users(&["u"])).await.unwrap(), [false]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_on_two_nodes_on_local() {
    on_local(sockets_on_two_nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_on_two_nodes_on_redis() {
    on_redis(sockets_on_two_nodes).await;
}

/// A repeated connect and an unknown disconnect change nothing.
async fn repeats_and_unknown_sockets(rig: Rig) {
    let p = rig.node().await;
    assert!(!p.disconnected("u", "never").await.unwrap());
    assert!(p.connected("u", "s1").await.unwrap());
    assert!(!p.connected("u", "s1").await.unwrap(), "same socket again");
    assert!(!p.disconnected("u", "other").await.unwrap());
    assert!(
        !p.disconnected("v", "s1").await.unwrap(),
        "another user's socket id"
    );
    assert_eq!(p.online(&users(&["u", "v"])).await.unwrap(), [true, false]);
    assert!(p.disconnected("u", "s1").await.unwrap(), "counted once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_and_unknown_sockets_on_local() {
    on_local(repeats_and_unknown_sockets).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_and_unknown_sockets_on_redis() {
    on_redis(repeats_and_unknown_sockets).await;
}

/// `online` answers for many users at once, in the order asked, repeats included.
async fn online_in_order(rig: Rig) {
    let p = rig.node().await;
    for (i, u) in ["a", "c", "e"].iter().enumerate() {
        p.connected(u, &format!("s{i}")).await.unwrap();
    }
    assert_eq!(
        p.online(&users(&["a", "b", "c", "d", "e", "a"]))
            .await
            .unwrap(),
        [true, false, true, false, true, true]
    );
    assert_eq!(p.online(&[]).await.unwrap(), Vec::<bool>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_in_order_on_local() {
    on_local(online_in_order).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_in_order_on_redis() {
    on_redis(online_in_order).await;
}

/// 20 sockets of one user connecting at once over two nodes: exactly one connect reports
/// "came online"; all of them leaving at once: exactly one reports "went offline".
async fn concurrent_transitions_are_reported_once(rig: Rig) {
    let nodes = [rig.node().await, rig.node().await];
    let run = async |connect: bool| {
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let node: Arc<dyn Presence> = Arc::clone(&nodes[i % 2]);
                tokio::spawn(async move {
                    let socket = format!("s{i}");
                    if connect {
                        node.connected("u", &socket).await.unwrap()
                    } else {
                        node.disconnected("u", &socket).await.unwrap()
                    }
                })
            })
            .collect();
        let mut reported = 0;
        for task in tasks {
            reported += usize::from(task.await.unwrap());
        }
        reported
    };
    assert_eq!(run(true).await, 1, "came online once");
    assert_eq!(nodes[0].online(&users(&["u"])).await.unwrap(), [true]);
    assert_eq!(run(false).await, 1, "went offline once");
    assert_eq!(nodes[1].online(&users(&["u"])).await.unwrap(), [false]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transitions_are_reported_once_on_local() {
    on_local(concurrent_transitions_are_reported_once).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transitions_are_reported_once_on_redis() {
    on_redis(concurrent_transitions_are_reported_once).await;
}
