//! The one way the service parses JSON text: as bytes, so that the bundle holds one copy of
//! `serde_json`'s parser (each reader type, `&str` or `&[u8]`, is a copy of its own).

use serde::Deserialize;

/// Parses `text` as `serde_json::from_str` does; the text is UTF-8 already, so reading its
/// bytes accepts and refuses exactly the same inputs.
pub fn from_text<'a, T: Deserialize<'a>>(text: &'a str) -> serde_json::Result<T> {
    serde_json::from_slice(text.as_bytes())
}
