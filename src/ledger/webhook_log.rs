//! An app's webhook delivery log: the last `KEPT` requests to its receivers (time, host, event
//! names, status, latency, retries left), written by the rooms that send them (in their
//! batched reports) and by the dashboard's test button, kept by the app's ledger.

use crate::protocol::json_writer::{string_array, JsonObject};

/// Requests the ledger keeps per app.
pub const KEPT: usize = 100;
/// Requests one report carries (the newest, when a room sent more in a second).
pub const PER_REPORT: usize = 20;

/// One webhook request, as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged<'a> {
    pub at_ms: u64,
    pub host: &'a str,
    pub event_names: &'a [String],
    /// The receiver's HTTP status; 0 when none came (a network error, the 10 s timeout).
    pub status: u16,
    pub latency_ms: u64,
    /// Tries the events still get after a failure; `None` once delivered.
    pub retries_left: Option<u32>,
    /// Sent by the dashboard's test button.
    pub test: bool,
}

/// The log's JSON line for a request.
pub fn line(logged: &Logged) -> String {
    let names = string_array(logged.event_names.iter().map(String::as_str));
    let line = JsonObject::new()
        .value("at", logged.at_ms)
        .string("host", logged.host)
        .raw("events", &names)
        .value("status", logged.status)
        .value("latency_ms", logged.latency_ms);
    let line = match logged.retries_left {
        Some(left) => line.value("retries_left", left),
        None => line,
    };
    match logged.test {
        true => line.value("test", true).finish(),
        false => line.finish(),
    }
}

/// Adds `line` to a room's lines for its next report, keeping the newest `PER_REPORT`.
pub fn keep_newest(lines: &mut Vec<String>, line: String) {
    if lines.len() >= PER_REPORT {
        lines.remove(0);
    }
    lines.push(line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_says_what_happened() {
        let names = vec!["channel_occupied".to_string()];
        let failed = Logged {
            at_ms: 7,
            host: "hooks.example",
            event_names: &names,
            status: 503,
            latency_ms: 12,
            retries_left: Some(8),
            test: false,
        };
        assert_eq!(
            line(&failed),
            r#"{"at":7,"host":"hooks.example","events":["channel_occupied"],"status":503,"latency_ms":12,"retries_left":8}"#
        );
        let test = Logged {
            retries_left: None,
            test: true,
            status: 200,
            ..failed
        };
        assert!(line(&test).ends_with(r#""status":200,"latency_ms":12,"test":true}"#));
    }

    #[test]
    fn a_report_keeps_the_newest_lines() {
        let mut lines = Vec::new();
        for i in 0..PER_REPORT + 5 {
            keep_newest(&mut lines, i.to_string());
        }
        assert_eq!(lines.len(), PER_REPORT);
        assert_eq!(lines[0], "5");
    }
}
