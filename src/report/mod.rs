//! Every run leaves a report: one model (model.rs), rendered as text for a terminal, JSON for
//! machines, Markdown for tickets and e-mail, and a self-contained HTML page. `compare` diffs two
//! reports of a connector.

mod compare;
#[doc(hidden)]
pub mod fixture;
mod html;
mod json;
mod markdown;
mod model;
mod text;
pub(crate) mod view;

pub use compare::{
    ChangedStep, Comparison, RunRef, compare, render_comparison, render_comparison_json,
    render_comparison_markdown, render_comparison_text,
};
pub(crate) use html::escape_html;
pub use html::render_html;
pub use json::render_json;
pub use markdown::render_markdown;
pub use model::{
    EventsReach, EventsReport, FocusCoverage, FocusReport, GroupChange, GroupReport, ProblemReport,
    PullStatsReport, PullSummary, Report, RunOutcome, SCHEMA_VERSION, SkippedLinkReport,
    StepReport, new_run_id,
};
pub use text::{render_text, render_text_limited, render_text_with};

use serde::{Deserialize, Serialize};

/// The output formats a report can be rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Aligned tables for a terminal.
    Text,
    /// Everything, in the documented schema (docs/report-schema.md).
    Json,
    /// Tables for tickets and e-mail.
    Markdown,
    /// One self-contained page with a searchable table of steps.
    Html,
}

/// How to render, beyond the format. Chosen by the caller (the CLI knows whether stdout is a
/// terminal); renderers hold no global state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RenderOptions {
    /// At most this many rows per section in text and Markdown, with a count of the rest. JSON
    /// and HTML always carry everything (the page pages through it).
    pub limit: Option<usize>,
    /// ANSI colour in text output.
    pub color: bool,
}

pub fn render(report: &Report, format: Format) -> String {
    render_with(report, format, &RenderOptions::default())
}

pub fn render_with(report: &Report, format: Format, options: &RenderOptions) -> String {
    match format {
        Format::Text => render_text_with(report, options),
        Format::Json => render_json(report),
        Format::Markdown => markdown::render_markdown_with(report, options),
        Format::Html => render_html(report),
    }
}
