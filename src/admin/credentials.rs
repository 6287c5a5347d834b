//! Server-generated app keys and secrets.

use worker::{Error, Result};

/// `bytes` random bytes in hex (`2 × bytes` characters): keys take 10 (20 characters, like
/// Pusher's), secrets 16 (128 bits).
pub fn random_hex(bytes: usize) -> Result<String> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|e| Error::RustError(format!("no randomness: {e}")))?;
    Ok(hex::encode(buffer))
}
