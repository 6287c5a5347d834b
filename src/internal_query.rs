//! Reading query parameters of requests (client URLs and internal Worker-to-Durable-Object ones).

use worker::Url;

/// The decoded value of the first `name` parameter of `url`.
pub fn query_value(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
