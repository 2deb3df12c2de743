//! A span's fields for the JSON log lines, kept as one JSON object that a
//! field recorded later is appended to.
//!
//! `tracing_subscriber`'s own JSON field formatter parses the span's object
//! and writes it again on every `Span::record`; a call records its order,
//! provider and idempotency key after its span is made, and those parses
//! were a few per cent of kessai's CPU per Authorize. A field recorded
//! twice appears twice in the kept object; each log line reads the object
//! as a map (`tracing_subscriber`'s JSON event formatter does), where the
//! later value wins, as it did.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::Writer;

/// The JSON layer's field formatter (see the module's doc).
#[derive(Debug, Default)]
pub struct AppendedJsonFields;

impl<'writer> FormatFields<'writer> for AppendedJsonFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut object = String::from("{");
        fields.record(&mut Members::new(&mut object));
        object.push('}');
        writer.write_str(&object)
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let object = &mut current.fields;
        // What this formatter wrote: `{…}`, or nothing yet.
        if object.ends_with('}') {
            object.pop();
        } else {
            object.clear();
            object.push('{');
        }
        fields.record(&mut Members::new(object));
        object.push('}');
        Ok(())
    }
}

/// Writes `"name":value` members after what `object` holds.
struct Members<'a> {
    object: &'a mut String,
    first: bool,
}

impl<'a> Members<'a> {
    fn new(object: &'a mut String) -> Self {
        let first = object.ends_with('{');
        Self { object, first }
    }

    fn member(&mut self, field: &Field, value: impl serde::Serialize) {
        let name = field.name();
        // Fields that are `log` crate metadata, as the stock formatter skips.
        if name.starts_with("log.") {
            return;
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        let (Ok(name), Ok(value)) = (serde_json::to_string(name), serde_json::to_string(&value))
        else {
            return;
        };
        if !self.first {
            self.object.push(',');
        }
        self.first = false;
        let _ = write!(self.object, "{name}:{value}");
    }
}

impl Visit for Members<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, value);
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.member(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// A call's span as kessai's handlers fill it, then one event inside:
    /// the event's JSON line, parsed, without its timestamp.
    fn logged(appended: bool) -> serde_json::Value {
        let lines = Lines::default();
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(lines.clone());
        // The stock formatter's layer and this one differ in type: each
        // subscriber is made and used apart.
        let record = || {
            let span = tracing::info_span!(
                "Authorize",
                otel.kind = "server",
                r#type = "unary",
                order_id = tracing::field::Empty,
                provider = tracing::field::Empty,
                attempts = tracing::field::Empty,
                ok = tracing::field::Empty,
            );
            span.record("provider", "payjp");
            span.record("order_id", "ord_\"1\"\n");
            span.record("attempts", 3_u64);
            span.record("ok", true);
            span.record("provider", "smartpay");
            let inner = tracing::info_span!(parent: &span, "provider", latency = 1.5_f64);
            inner.in_scope(|| tracing::info!(code = "OK", "access"));
        };
        if appended {
            let subscriber =
                tracing_subscriber::registry().with(layer.fmt_fields(AppendedJsonFields));
            tracing::subscriber::with_default(subscriber, record);
        } else {
            let subscriber = tracing_subscriber::registry().with(layer);
            tracing::subscriber::with_default(subscriber, record);
        }
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let mut line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        line.as_object_mut().unwrap().remove("timestamp");
        line
    }

    #[test]
    fn log_lines_carry_the_same_span_fields_as_the_stock_formatter_writes() {
        let stock = logged(false);
        let appended = logged(true);
        assert_eq!(appended, stock);
        // The later of two values wins, and every kind of value is kept.
        assert_eq!(stock["spans"][0]["provider"], "smartpay");
        assert_eq!(stock["spans"][0]["order_id"], "ord_\"1\"\n");
        assert_eq!(stock["spans"][0]["attempts"], 3);
        assert_eq!(stock["spans"][0]["ok"], true);
        assert_eq!(stock["spans"][0]["type"], "unary");
        assert_eq!(stock["span"]["latency"], 1.5);
    }
}
