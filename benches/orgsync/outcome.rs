//! One case's figures, passed from the child process that ran it to the parent that prints the
//! table, and the table itself.

use serde::{Deserialize, Serialize};

/// The line prefix a child prints its figures after.
pub const RESULT_PREFIX: &str = "ORGSYNC-BENCH-RESULT ";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Outcome {
    pub case: String,
    /// Upstream calls made (counted by the emulator) and the least the API allows.
    pub calls: Option<u64>,
    pub min_calls: Option<u64>,
    pub wall_s: f64,
    /// The least time the case can take; `None` where no limit applies.
    pub floor_s: Option<f64>,
    pub rate_limit_errors: Option<u64>,
    pub writes: Option<u64>,
    /// CPU time of orgsync's side (the main thread) and of the whole process.
    pub cpu_s: f64,
    pub process_cpu_s: f64,
    pub peak_rss: u64,
    pub note: String,
}

impl Outcome {
    pub fn efficiency(&self) -> Option<f64> {
        self.floor_s
            .filter(|_| self.wall_s > 0.0)
            .map(|f| f / self.wall_s)
    }
}

fn opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or("–".to_owned(), |v| v.to_string())
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / 1024.0 / 1024.0)
}

/// A Markdown table, readable in a terminal and pasteable into docs/performance.md.
pub fn table(outcomes: &[Outcome]) -> String {
    let header = [
        "case",
        "calls / min",
        "wall",
        "floor",
        "eff.",
        "rate-limit errors",
        "target writes",
        "CPU orgsync / all",
        "peak RSS",
        "note",
    ];
    let rows: Vec<[String; 10]> = outcomes
        .iter()
        .map(|o| {
            [
                o.case.clone(),
                match (o.calls, o.min_calls) {
                    (None, None) => "–".to_owned(),
                    (calls, min) => format!("{} / {}", opt(calls), opt(min)),
                },
                format!("{:.2} s", o.wall_s),
                o.floor_s.map_or("–".to_owned(), |f| format!("{f:.2} s")),
                o.efficiency().map_or("–".to_owned(), |e| format!("{e:.2}")),
                opt(o.rate_limit_errors),
                opt(o.writes),
                format!("{:.2} / {:.2} s", o.cpu_s, o.process_cpu_s),
                mib(o.peak_rss),
                o.note.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(&header.map(str::to_owned));
    out += &line(&widths.map(|w| "-".repeat(w)));
    for row in &rows {
        out += &line(row);
    }
    out
}
