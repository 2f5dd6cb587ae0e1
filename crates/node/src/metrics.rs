//! The node's metrics: [`Family`] (one metric family and its samples), the Prometheus
//! text exposition format (version 0.0.4, names and label values escaped here, once), and
//! [`Metrics`], the registry every role adds its [`Source`] to when it starts; `/metrics`
//! asks each source for its families, in the order they were added.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

/// Something that counts: asked for its families on every scrape.
pub trait Source: Send + Sync + std::fmt::Debug {
    /// Every family, with the samples as of now.
    fn families(&self) -> Vec<Family>;
}

/// The registry: each role adds its source at start. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    sources: Arc<Mutex<Vec<Arc<dyn Source>>>>,
}

impl Metrics {
    /// Adds a source; its families follow those of the sources added before it.
    pub fn register(&self, source: Arc<dyn Source>) {
        let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        sources.push(source);
    }

    /// Every registered source's families.
    pub fn families(&self) -> Vec<Family> {
        let sources: Vec<Arc<dyn Source>> = self
            .sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        sources
            .iter()
            .flat_map(|source| source.families())
            .collect()
    }
}

/// Histogram bucket bounds in seconds, from bounds counted in milliseconds.
pub fn seconds(bounds_ms: &[u64]) -> Vec<f64> {
    bounds_ms.iter().map(|ms| *ms as f64 / 1e3).collect()
}

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a family measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (since the process started).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in cumulative buckets, with their sum and count.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    suffix: &'static str,
    labels: Vec<(String, String)>,
    value: f64,
}

/// A metric family: its name, help text, kind and samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    samples: Vec<Sample>,
}

impl Family {
    /// A counter family (name ending in `_total`).
    pub fn counter(name: &'static str, help: &'static str) -> Family {
        Family::new(name, help, Kind::Counter)
    }

    /// A gauge family.
    pub fn gauge(name: &'static str, help: &'static str) -> Family {
        Family::new(name, help, Kind::Gauge)
    }

    /// A histogram family.
    pub fn histogram(name: &'static str, help: &'static str) -> Family {
        Family::new(name, help, Kind::Histogram)
    }

    fn new(name: &'static str, help: &'static str, kind: Kind) -> Family {
        Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    /// The family's name.
    pub fn name(&self) -> &str {
        self.name
    }

    /// Adds a sample with these labels.
    pub fn sample(mut self, labels: &[(&str, &str)], value: f64) -> Family {
        self.push(labels, value);
        self
    }

    /// Adds a sample with these labels, in place.
    pub fn push(&mut self, labels: &[(&str, &str)], value: f64) {
        self.samples.push(Sample {
            suffix: "",
            labels: owned(labels),
            value,
        });
    }

    /// Adds one histogram: `bounds` are the buckets' upper bounds, `counts` the
    /// observations per bucket (not cumulative), one more than `bounds` (the last is
    /// everything above), `sum` the sum of observations.
    pub fn observe(&mut self, labels: &[(&str, &str)], bounds: &[f64], counts: &[u64], sum: f64) {
        let mut cumulative = 0u64;
        for (i, bound) in bounds.iter().enumerate() {
            cumulative += counts.get(i).copied().unwrap_or(0);
            let le = bound.to_string();
            let mut with_le = owned(labels);
            with_le.push(("le".to_owned(), le));
            self.samples.push(Sample {
                suffix: "_bucket",
                labels: with_le,
                value: cumulative as f64,
            });
        }
        let total: u64 = counts.iter().sum();
        let mut inf = owned(labels);
        inf.push(("le".to_owned(), "+Inf".to_owned()));
        for (suffix, labels, value) in [
            ("_bucket", inf, total as f64),
            ("_sum", owned(labels), sum),
            ("_count", owned(labels), total as f64),
        ] {
            self.samples.push(Sample {
                suffix,
                labels,
                value,
            });
        }
    }
}

fn owned(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The families in the text format, in the order given.
pub fn encode(families: &[Family]) -> String {
    let mut out = String::new();
    for family in families {
        let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(family.help));
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind.as_str());
        for sample in &family.samples {
            out.push_str(family.name);
            out.push_str(sample.suffix);
            if !sample.labels.is_empty() {
                out.push('{');
                for (i, (key, value)) in sample.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{key}=\"{}\"", escape_label(value));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", number(sample.value));
        }
    }
    out
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_gauges_and_escaping() {
        let families = [
            Family::counter("x_total", "Things.\nMore")
                .sample(&[("member", "A \"b\"\\c")], 3.0)
                .sample(&[], 1.5),
            Family::gauge("y", "Up.").sample(&[], f64::NAN),
        ];
        assert_eq!(
            encode(&families),
            "# HELP x_total Things.\\nMore\n# TYPE x_total counter\n\
             x_total{member=\"A \\\"b\\\"\\\\c\"} 3\nx_total 1.5\n\
             # HELP y Up.\n# TYPE y gauge\ny NaN\n"
        );
    }

    #[test]
    fn histograms_are_cumulative() {
        let mut family = Family::histogram("d_seconds", "Time.");
        family.observe(&[("type", "ping")], &[0.1, 1.0], &[2, 1, 4], 9.5);
        let text = encode(&[family]);
        assert!(text.contains("d_seconds_bucket{type=\"ping\",le=\"0.1\"} 2\n"));
        assert!(text.contains("d_seconds_bucket{type=\"ping\",le=\"1\"} 3\n"));
        assert!(text.contains("d_seconds_bucket{type=\"ping\",le=\"+Inf\"} 7\n"));
        assert!(text.contains("d_seconds_sum{type=\"ping\"} 9.5\n"));
        assert!(text.contains("d_seconds_count{type=\"ping\"} 7\n"));
    }
}
