//! Integration tests of db-writer against a real RabbitMQ, a MongoDB-wire server and Redis. They
//! need `CHAT_TEST_AMQP_URL`, `CHAT_TEST_MONGODB_URL` and `CHAT_TEST_REDIS_URL`
//! (scripts/test-servers) and fail without them.
//!
//! - `consumer`: the in-process consumer: bulk throughput, idempotence, the ordering rules,
//!   dead letters and graceful shutdown.
//! - `binary`: the real binary, killed with SIGKILL and its broker restarted mid-stream.
//! - `search`: the search-index consumer beside the writer.
//! - `reconcile`: messages in the Redis recent log whose hand-off was lost still get stored.
//! - `support`: publishing real events, spawning consumers, reading the store and the queues.

mod binary;
mod consumer;
mod reconcile;
mod search;
mod support;
