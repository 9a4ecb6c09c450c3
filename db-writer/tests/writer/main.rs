//! Integration tests of db-writer against a real RabbitMQ and a MongoDB-wire server. They need
//! `CHAT_TEST_AMQP_URL` and `CHAT_TEST_MONGODB_URL` (scripts/test-servers) and fail without them.
//!
//! - `consumer`: the in-process consumer: bulk throughput, idempotence, the ordering rules,
//!   dead letters and graceful shutdown.
//! - `binary`: the real binary, killed with SIGKILL mid-stream and restarted.
//! - `support`: publishing real events, spawning consumers, reading the store and the queues.

mod binary;
mod consumer;
mod support;
