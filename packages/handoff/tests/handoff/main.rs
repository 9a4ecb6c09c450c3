//! Integration tests of the hand-off. `conformance` runs one suite against both
//! implementations; `rabbit` holds what only RabbitMQ has (routing, dead letters, bounds).
//! RabbitMQ tests need `CHAT_TEST_AMQP_URL` (scripts/test-servers) and fail without it.
//! Broker outages are in the separate `handoff_faults` binary, on a node of its own.

mod conformance;
mod rabbit;
mod support;
