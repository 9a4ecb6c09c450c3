//! file-service through real HTTP: files declared, uploaded with the URLs it signed, completed,
//! attached to messages by socket-service's logic, downloaded by members; and everything that
//! must be refused. Every case runs twice: on S3 (the test server from `CHAT_TEST_S3_*`, a
//! fresh bucket each) and on the standalone mode's local directory, whose URLs the same
//! loopback server answers. The distributed binary's composition (`file_service::run` on
//! MongoDB and S3) has its own case in [`distributed`].
//!
//! - [`support`]: `App::spawn`, users, rooms, typed requests.
//! - [`flow`]: the round trip, membership, attachments, deletion and expiry.
//! - [`refusals`]: bad declarations, uploads that break the URL's binding, bad bytes.
//! - [`distributed`]: `run` with MongoDB and S3, operations endpoints.

mod distributed;
mod flow;
mod refusals;
mod support;

/// Two tests per case: `<case>_on_s3` and `<case>_on_local`.
#[macro_export]
macro_rules! both_storages {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_s3() {
                    super::$case($crate::support::App::spawn($crate::support::Storage::S3).await)
                        .await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_local() {
                    super::$case(
                        $crate::support::App::spawn($crate::support::Storage::Local).await,
                    )
                    .await;
                }
            }
        )*
    };
}
