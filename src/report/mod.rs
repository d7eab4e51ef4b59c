//! Every run leaves a report: one model, rendered as text for people and JSON for machines.

mod json;
mod model;
mod text;

pub use json::render_json;
pub use model::{PullSummary, Report, RunOutcome, SCHEMA_VERSION, StepReport};
pub use text::{render_text, render_text_limited};

use serde::{Deserialize, Serialize};

/// The output formats a report can be rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Text,
    Json,
}

pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => render_text(report),
        Format::Json => render_json(report),
    }
}
