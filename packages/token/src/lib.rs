//! Access tokens: short-lived EdDSA (Ed25519) JWTs.
//!
//! Only auth-service holds the private key and issues tokens ([`issue::Issuer`]); every other
//! service verifies them with public keys alone ([`verify::Verifier`]), either as a plain
//! function (the Socket.IO handshake) or as the axum extractor [`extract::AuthUser`].
//!
//! - [`claims`]: what a token says.
//! - [`keys`]: generating, saving and loading the key pair (PEM).
//! - [`jwks`]: public keys with their key ids, and the key set auth-service publishes so that
//!   signing keys rotate without refusing valid tokens.
//! - [`issue`], [`verify`], [`extract`]: the three uses.

pub mod claims;
pub mod extract;
pub mod issue;
pub mod jwks;
pub mod keys;
pub mod verify;

pub use claims::Claims;
pub use extract::AuthUser;
pub use issue::Issuer;
pub use jwks::{JwkSet, PublicKey};
pub use keys::KeyPair;
pub use verify::{BadPublicKey, TokenError, Verifier};

/// The `iss` claim auth-service puts in its tokens unless configured otherwise.
pub const DEFAULT_ISSUER: &str = "chat-auth";
/// The `aud` claim: the services of this chat backend.
pub const DEFAULT_AUDIENCE: &str = "chat";
