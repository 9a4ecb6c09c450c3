//! db-writer: persists what socket nodes accepted — messages, edits, deletes and read
//! pointers — idempotently, so a redelivered or reordered event changes nothing twice.
//!
//! - [`writer`]: the rules, written once against [`store::ChatStore`]; the standalone server
//!   runs them in-process as the embedded hand-off's durable consumer.

pub mod writer;

pub use writer::Writer;
