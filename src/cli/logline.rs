//! The log's JSON lines, formatted here rather than by tracing-subscriber's JSON
//! formatter: the same output for less than half the cost.
//!
//! The decision log writes a line per request. tracing-subscriber's formatter serializes
//! each field through serde_json into a writer that checks every small piece (each key,
//! each quote) back into a `str`: ~7% of a worker's time under load (~2.7 us a request,
//! `BENCHMARKS.md`). This builds the line in one buffer, with serde_json's own escaping
//! and number formatting, and checks it once. The line is what tracing-subscriber's
//! `json().flatten_event(true)` without spans writes: `timestamp` (its `SystemTime`
//! format), `level`, every field in the order recorded, `target` (a `log` record's own, as
//! tracing-subscriber takes it); a test compares the two on every kind of field.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats each event as one JSON object on a line.
pub struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let mut time = String::with_capacity(32);
        SystemTime.format_time(&mut Writer::new(&mut time))?;
        let mut line = Vec::with_capacity(512);
        line.extend_from_slice(b"{\"timestamp\":");
        json(&mut line, time.as_str());
        line.extend_from_slice(b",\"level\":");
        json(&mut line, meta.level().as_str());
        event.record(&mut Fields(&mut line));
        line.extend_from_slice(b",\"target\":");
        json(&mut line, meta.target());
        line.extend_from_slice(b"}\n");
        writer.write_str(std::str::from_utf8(&line).map_err(|_| fmt::Error)?)
    }
}

/// Appends `v` as serde_json writes it.
fn json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Writing to a `Vec` cannot fail, and none of the values given here fails to
    // serialize (serde_json writes a non-finite float as `null` itself); were one to,
    // `null` stands in for it and the line stays JSON.
    let mark = out.len();
    if serde_json::to_writer(&mut *out, v).is_err() {
        out.truncate(mark);
        out.extend_from_slice(b"null");
    }
}

/// Each field as `,"name":value`, as tracing-serde's map visitor serializes it.
struct Fields<'a>(&'a mut Vec<u8>);

impl Fields<'_> {
    fn entry<T: serde::Serialize + ?Sized>(&mut self, field: &Field, value: &T) {
        self.0.push(b',');
        json(self.0, field.name());
        self.0.push(b':');
        json(self.0, value);
    }
}

impl Visit for Fields<'_> {
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, &value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, &value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, &value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.entry(field, &value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.entry(field, &format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Everything the subscriber writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[derive(Debug)]
    struct Odd {
        _text: &'static str,
    }

    fn events() {
        let err = std::io::Error::other("upstream \"closed\"");
        tracing::info!(
            target: "customs::decision",
            request_id = "9cac6f5619e195ef",
            records = 10u64,
            delta = -3i64,
            shadowed = false,
            ratio = 1.5f64,
            huge = 1e300f64,
            nan = f64::NAN,
            rules = %"UK,US",
            odd = ?Odd { _text: "a \"quoted\"\n\tline \u{7f} é 😀" },
            error = &err as &(dyn std::error::Error + 'static),
            wide = 170141183460469231731687303715884105727i128,
            "decision"
        );
        tracing::warn!(target: "customs::upstream", upstream = "crm-us", "upstream failed: {}", 42);
        tracing::error!("no fields but the message \\ and a backslash");
        tracing::debug!(target: "customs::x", "filtered out at info");
    }

    fn capture<F>(make: F) -> String
    where
        F: FnOnce(Sink) -> Box<dyn Subscriber + Send + Sync>,
    {
        let sink = Sink::default();
        let sub = make(sink.clone());
        tracing::subscriber::with_default(sub, events);
        let out = sink.0.lock().unwrap().clone();
        String::from_utf8(out).unwrap()
    }

    /// Drops the timestamp's value, which differs between the two runs.
    fn without_time(line: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let t = v["timestamp"].as_str().unwrap();
        // 2026-11-26T11:06:05.678740Z
        assert_eq!(t.len(), 27, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        line.replacen(t, "T", 1)
    }

    #[test]
    fn lines_are_what_tracing_subscribers_json_formatter_writes() {
        let ours = capture(|sink| {
            Box::new(
                tracing_subscriber::fmt()
                    .event_format(JsonLine)
                    .with_max_level(tracing::Level::INFO)
                    .with_writer(move || sink.clone())
                    .finish(),
            )
        });
        let theirs = capture(|sink| {
            Box::new(
                tracing_subscriber::fmt()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_max_level(tracing::Level::INFO)
                    .with_writer(move || sink.clone())
                    .finish(),
            )
        });
        let ours: Vec<String> = ours.lines().map(without_time).collect();
        let theirs: Vec<String> = theirs.lines().map(without_time).collect();
        assert_eq!(ours.len(), 3, "{ours:?}");
        assert_eq!(ours, theirs);
        assert!(ours[0].contains(r#""nan":null"#), "{}", ours[0]);
    }
}
