//! SQLite values in and out: counters and sequence numbers go in capped at 2^53 − 1 (a
//! `SqlStorageValue::Integer` reaches the runtime as a JavaScript number, exact only up to
//! there: workers-rs warns past it and the value is rounded), and numbers come out as one
//! small row type.

use serde::Deserialize;
use worker::{Result, SqlStorage, SqlStorageValue};

/// The largest integer a JavaScript number holds exactly.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// `n` as a SQLite integer, capped at [`MAX_SAFE_INTEGER`].
pub fn int(n: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(n.min(MAX_SAFE_INTEGER as u64) as i64)
}

/// A row of up to two numbers (`SELECT ... AS a, ... AS b`). One row type for every numeric
/// query keeps the Wasm small.
#[derive(Deserialize)]
pub struct Numbers {
    pub a: Option<f64>,
    pub b: Option<f64>,
}

/// A row of one text column (`SELECT ... AS t`): one row type for every such query, as
/// [`Numbers`] is for numbers.
#[derive(Deserialize)]
struct Text {
    t: String,
}

/// The text column (`AS t`) of every row of a query.
pub fn texts(sql: &SqlStorage, query: &str, bindings: Vec<SqlStorageValue>) -> Result<Vec<String>> {
    let rows = sql.exec(query, bindings)?.to_array::<Text>()?;
    Ok(rows.into_iter().map(|row| row.t).collect())
}

/// The first row of a numeric query, if any.
pub fn numbers(
    sql: &SqlStorage,
    query: &str,
    bindings: Vec<SqlStorageValue>,
) -> Result<Option<Numbers>> {
    Ok(sql
        .exec(query, bindings)?
        .to_array::<Numbers>()?
        .into_iter()
        .next())
}

/// The first number of a numeric query (`AS a`); 0 without one.
pub fn number(sql: &SqlStorage, query: &str, bindings: Vec<SqlStorageValue>) -> Result<f64> {
    Ok(numbers(sql, query, bindings)?
        .and_then(|row| row.a)
        .unwrap_or(0.0))
}
