//! The ledger's table of the app's webhook delivery log (`super::webhook_log`): lines appended
//! from reports, the newest `KEPT` kept, read newest first.

use super::webhook_log::KEPT;
use crate::glue::sql::{int, texts};
use crate::protocol::json_writer::raw_array;
use worker::{Result, SqlStorage};

pub const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS webhook_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL)";

/// Appends `lines` (oldest first) and forgets all but the newest `KEPT`.
pub fn append(sql: &SqlStorage, lines: &[String]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    for line in lines {
        sql.exec(
            "INSERT INTO webhook_log (line) VALUES (?)",
            vec![line.as_str().into()],
        )?;
    }
    sql.exec(
        "DELETE FROM webhook_log WHERE seq <= (SELECT MAX(seq) FROM webhook_log) - ?",
        vec![int(KEPT as u64)],
    )?;
    Ok(())
}

/// `{"attempts":[...]}`, newest first.
pub fn read(sql: &SqlStorage) -> Result<String> {
    let lines = texts(
        sql,
        "SELECT line AS t FROM webhook_log ORDER BY seq DESC LIMIT ?",
        vec![int(KEPT as u64)],
    )?;
    Ok(format!(r#"{{"attempts":{}}}"#, raw_array(&lines)))
}
