//! What only [`presence::RedisPresence`] has: a node that dies without cleaning up has its
//! users taken offline by the others within about two heartbeat TTLs, announced once; a node
//! that was taken for dead registers its sockets again; a Redis that stops answering.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use fred::prelude::{KeysInterface, SetsInterface};
use presence::{Error, Presence};
use tokio::sync::broadcast;

use crate::{Rig, on_redis, redis_url, users};
use testkit::Proxy;

/// What `offline` announces until `deadline`, with when each came.
async fn announced_until(
    mut offline: broadcast::Receiver<String>,
    deadline: Instant,
) -> Vec<(String, Instant)> {
    let mut heard = Vec::new();
    let deadline = tokio::time::Instant::from_std(deadline);
    while let Ok(next) = tokio::time::timeout_at(deadline, offline.recv()).await {
        heard.push((next.expect("offline announcements"), Instant::now()));
    }
    heard
}

/// Node B dies (its task stops, nothing is cleaned up) holding u1's only sockets and one of
/// u2's. The live nodes A and C report u1 offline, once between them, within 2 × TTL; u2 (also
/// on A) and u3 (only on A) stay online; B leaves nothing behind.
async fn dead_node_users_go_offline(rig: Rig) {
    let ttl = Duration::from_secs(2);
    let a = rig.redis_node(ttl).await;
    let c = rig.redis_node(ttl).await;
    let b = rig.redis_node(ttl).await;
    let (heard_a, heard_c) = (a.subscribe_offline(), c.subscribe_offline());
    assert!(b.connected("u1", "b1").await.unwrap());
    assert!(!b.connected("u1", "b2").await.unwrap());
    assert!(b.connected("u2", "b3").await.unwrap());
    assert!(!a.connected("u2", "a1").await.unwrap());
    assert!(a.connected("u3", "a2").await.unwrap());
    let dead = b.node_id().to_owned();

    drop(b);
    let died = Instant::now();
    // Its heartbeat is still fresh: nobody is offline yet.
    let everyone = users(&["u1", "u2", "u3"]);
    assert_eq!(a.online(&everyone).await.unwrap(), [true, true, true]);

    // Listen a little past the bound, to hear any duplicate too.
    let until = died + 2 * ttl + Duration::from_secs(1);
    let (heard_a, heard_c) = tokio::join!(
        announced_until(heard_a, until),
        announced_until(heard_c, until)
    );
    let heard: Vec<_> = heard_a.into_iter().chain(heard_c).collect();
    let names: Vec<&str> = heard.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(names, ["u1"], "announced once, by one of the live nodes");
    let after = heard[0].1 - died;
    eprintln!("u1 announced offline {after:?} after its node died");
    assert!(after <= 2 * ttl, "announced after {after:?}");

    assert_eq!(c.online(&everyone).await.unwrap(), [false, true, true]);
    // u2's socket on B is gone too: the one on A is the last.
    assert!(a.disconnected("u2", "a1").await.unwrap());

    // B is unregistered and its socket list deleted.
    let (client, prefix) = rig.redis().await;
    let nodes: HashSet<String> = client
        .smembers(format!("{prefix}presence:{{nodes}}"))
        .await
        .unwrap();
    let live: HashSet<String> = [a.node_id().to_owned(), c.node_id().to_owned()].into();
    assert_eq!(nodes, live);
    let left: i64 = client
        .exists(format!("{prefix}presence:{{nodes}}:{dead}:sockets"))
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_node_users_go_offline_on_redis() {
    on_redis(dead_node_users_go_offline).await;
}

/// B stalls past its heartbeat (simulated by deleting it), A reaps it and announces its user
/// offline; at its next beat B notices and registers its sockets again, so the user it still
/// serves is online again and its later disconnect is reported.
async fn node_taken_for_dead_registers_again(rig: Rig) {
    // A reaps every ~333 ms; B beats every 2 s.
    let a = rig.redis_node(Duration::from_secs(1)).await;
    let b = rig.redis_node(Duration::from_secs(6)).await;
    let heard = a.subscribe_offline();
    assert!(b.connected("u", "b1").await.unwrap());

    let (client, prefix) = rig.redis().await;
    let deleted: i64 = client
        .del(format!("{prefix}presence:{{nodes}}:{}:alive", b.node_id()))
        .await
        .unwrap();
    assert_eq!(deleted, 1);

    let heard = announced_until(heard, Instant::now() + Duration::from_millis(1500)).await;
    let names: Vec<&str> = heard.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(names, ["u"], "A reaped B");
    assert_eq!(a.online(&users(&["u"])).await.unwrap(), [false]);

    let back_by = Instant::now() + Duration::from_secs(3);
    while a.online(&users(&["u"])).await.unwrap() != [true] {
        assert!(
            Instant::now() < back_by,
            "B did not register its socket again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(b.disconnected("u", "b1").await.unwrap());
    assert_eq!(a.online(&users(&["u"])).await.unwrap(), [false]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_taken_for_dead_registers_again_on_redis() {
    on_redis(node_taken_for_dead_registers_again).await;
}

/// A Redis that stops answering (connection open, silent) makes every call fail with
/// `Unavailable` within seconds, never hang.
async fn silent_redis_is_unavailable(rig: Rig) {
    let (proxy, via) = Proxy::for_url(&redis_url()).await;
    let node = rig.redis_node_via(&via, Duration::from_secs(15)).await;
    assert!(node.connected("u", "s1").await.unwrap());

    proxy.freeze();
    let bound = Duration::from_secs(10);
    let started = Instant::now();
    let outcome = tokio::time::timeout(bound, node.connected("u", "s2")).await;
    let elapsed = started.elapsed();
    assert!(
        matches!(outcome, Ok(Err(Error::Unavailable(_)))),
        "connected after {elapsed:?}: {outcome:?}"
    );
    eprintln!("connected failed after {elapsed:?}");
    let outcome = tokio::time::timeout(bound, node.disconnected("u", "s1")).await;
    assert!(
        matches!(outcome, Ok(Err(Error::Unavailable(_)))),
        "{outcome:?}"
    );
    let outcome = tokio::time::timeout(bound, node.online(&users(&["u"]))).await;
    assert!(
        matches!(outcome, Ok(Err(Error::Unavailable(_)))),
        "{outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_redis_is_unavailable_on_redis() {
    on_redis(silent_redis_is_unavailable).await;
}
