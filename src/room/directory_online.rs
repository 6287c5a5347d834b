//! A directory shard's signed-in users as its storage keeps them (a `PresenceBook` without
//! user info), so a new instance after a reset knows who was online: those whose sessions do
//! not come back within the rejoin window go offline then, with a notice for their watchers.
//! Users whose socket went silent are kept online the same way until their session rejoins.
//! Written only when a user's first socket arrives or last one leaves.

use crate::room::presence_book::{BookEntry, BookRow, PresenceBook};
use worker::{console_error, Result, SqlStorage};

fn create(sql: &SqlStorage) -> Result<()> {
    sql.exec(
        "CREATE TABLE IF NOT EXISTS directory_online (user_id TEXT PRIMARY KEY, leaving_ms REAL)",
        None,
    )?;
    Ok(())
}

/// The stored book (empty when nothing could be read: the shard then knows only its sockets).
pub fn read(sql: &SqlStorage) -> PresenceBook {
    let rows = create(sql).and_then(|()| {
        sql.exec(
            "SELECT user_id, NULL AS info, leaving_ms FROM directory_online",
            None,
        )?
        .to_array::<BookRow>()
    });
    let rows = rows.unwrap_or_else(|e| {
        console_error!("directory: cannot read who is online: {e}");
        Vec::new()
    });
    PresenceBook::from_rows(rows)
}

/// Stores `user_id`'s entry, or deletes it (`None`).
pub fn write(sql: &SqlStorage, user_id: &str, entry: Option<&BookEntry>) {
    let written = match entry {
        Some(entry) => sql.exec(
            "INSERT OR REPLACE INTO directory_online (user_id, leaving_ms) VALUES (?, ?)",
            vec![user_id.into(), entry.leaving_ms.into()],
        ),
        None => sql.exec(
            "DELETE FROM directory_online WHERE user_id = ?",
            vec![user_id.into()],
        ),
    };
    if let Err(e) = written {
        console_error!("directory: cannot store who is online: {e}");
    }
}
