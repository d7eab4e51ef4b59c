use super::Report;

/// Pretty JSON; the schema is described in `docs/report-schema.md`.
pub fn render_json(report: &Report) -> String {
    // Serializing these plain data types cannot fail: every map key is a string or a unit enum.
    serde_json::to_string_pretty(report)
        .unwrap_or_else(|e| format!("{{\"error\":\"cannot render report: {e}\"}}"))
}
