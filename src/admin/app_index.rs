//! A registry index object: copies of the records of the apps whose key (or id) hashes to it,
//! all held in memory after the first request, so a lookup of a name no app has is answered
//! without touching storage. Deletions are kept as records too, so an older copy pushed late
//! never brings an app back.

use crate::apps::record::StoredRecord;
use crate::glue::sql::int;
use serde::Deserialize;
use std::collections::HashMap;
use std::rc::Rc;
use worker::{Response, Result, SqlStorage};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS records (name TEXT PRIMARY KEY,
    rev INTEGER NOT NULL, record TEXT NOT NULL)";

#[derive(Deserialize)]
struct Row {
    name: String,
    rev: f64,
    record: String,
}

/// Records by name: the revision, and the record's JSON when it is a live app.
type Records = HashMap<String, (u64, Option<Rc<str>>)>;

#[derive(Default)]
pub struct IndexMemory {
    records: Option<Records>,
}

impl IndexMemory {
    fn loaded(&mut self, sql: &SqlStorage) -> Result<&mut Records> {
        if self.records.is_none() {
            sql.exec(SCHEMA, vec![])?;
            let rows: Vec<Row> = sql
                .exec("SELECT name, rev, record FROM records", vec![])?
                .to_array()?;
            let records = rows
                .into_iter()
                .map(|row| {
                    let live = live_record(&row.record);
                    (row.name, (row.rev as u64, live))
                })
                .collect();
            self.records = Some(records);
        }
        Ok(self.records.get_or_insert_with(HashMap::new))
    }

    pub fn find(&mut self, sql: &SqlStorage, name: &str) -> Result<Response> {
        match self.loaded(sql)?.get(name) {
            Some((_, Some(record))) => Response::ok(record.to_string()),
            _ => Response::error("no such app", 404),
        }
    }

    pub fn store(
        &mut self,
        sql: &SqlStorage,
        name: &str,
        rev: u64,
        record: &str,
    ) -> Result<Response> {
        if StoredRecord::parse(record).is_none() {
            return Response::error("not a stored record", 400);
        }
        let records = self.loaded(sql)?;
        if records.get(name).is_some_and(|(held, _)| *held >= rev) {
            return Response::ok("kept the newer record");
        }
        sql.exec(
            "INSERT OR REPLACE INTO records (name, rev, record) VALUES (?, ?, ?)",
            vec![name.into(), int(rev), record.into()],
        )?;
        records.insert(name.to_string(), (rev, live_record(record)));
        Response::ok("stored")
    }
}

/// The record's text when it is a live app's, `None` for a deletion.
fn live_record(record: &str) -> Option<Rc<str>> {
    StoredRecord::parse(record)
        .filter(|r| r.app.is_some())
        .map(|_| Rc::from(record))
}
