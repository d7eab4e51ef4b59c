//! `ORGSYNC__SECTION__KEY` environment overrides. Done here rather than by config-rs's own
//! environment source, which lowercases every level: a connector named `HR` in the file could
//! not be reached (`ORGSYNC__CONNECTORS__HR__…` made a second connector `hr`), and a mistyped
//! variable was blamed on the file. Here each level of a variable's name takes the file's own
//! spelling of that key when exactly one key there matches it without case, and every error an
//! override causes names the variable.

use std::ffi::OsString;

/// What the variables' names start with; levels are separated by the same `__`.
const PREFIX: &str = "ORGSYNC__";

/// One override: the variable as the operator wrote it, the key path it sets, its value.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Override {
    pub variable: String,
    pub key: String,
    pub value: String,
    /// What the file holds at that key, if anything: the value is read as the same kind.
    pub replaces: Option<Kind>,
}

/// The kind of a value in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Text,
    Integer,
    Number,
    Boolean,
    Other,
}

impl Kind {
    fn of(value: &config::Value) -> Kind {
        match value.kind {
            config::ValueKind::String(_) => Kind::Text,
            config::ValueKind::I64(_)
            | config::ValueKind::I128(_)
            | config::ValueKind::U64(_)
            | config::ValueKind::U128(_) => Kind::Integer,
            config::ValueKind::Float(_) => Kind::Number,
            config::ValueKind::Boolean(_) => Kind::Boolean,
            config::ValueKind::Nil | config::ValueKind::Table(_) | config::ValueKind::Array(_) => {
                Kind::Other
            }
        }
    }
}

impl Override {
    /// The value as the kind the file holds at that key (`corp_id = "123"` stays text); for a
    /// key the file leaves out, as config-rs's environment source reads it: a boolean, an
    /// integer or a number when it parses as one. A value that does not parse as the file's
    /// kind stays text, and deserializing says which type was expected.
    pub fn typed(&self) -> config::Value {
        let value = &self.value;
        let text = || config::ValueKind::String(value.clone());
        let kind = match self.replaces {
            Some(Kind::Text) => text(),
            Some(Kind::Integer) => value
                .parse()
                .map_or_else(|_| text(), config::ValueKind::I64),
            Some(Kind::Number) => value
                .parse()
                .map_or_else(|_| text(), config::ValueKind::Float),
            Some(Kind::Boolean) => value
                .to_lowercase()
                .parse()
                .map_or_else(|_| text(), config::ValueKind::Boolean),
            Some(Kind::Other) | None => guess(value),
        };
        config::Value::new(None, kind)
    }
}

/// config-rs's reading of an environment value: a boolean, an integer or a number when it
/// parses as one, else text.
fn guess(value: &str) -> config::ValueKind {
    if let Ok(b) = value.to_lowercase().parse::<bool>() {
        config::ValueKind::Boolean(b)
    } else if let Ok(i) = value.parse::<i64>() {
        config::ValueKind::I64(i)
    } else if let Ok(f) = value.parse::<f64>() {
        config::ValueKind::Float(f)
    } else {
        config::ValueKind::String(value.to_owned())
    }
}

/// Why an override cannot be applied at all (before the config is even put together).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(super) enum OverrideError {
    #[error("environment variable {variable}: {detail}")]
    Unusable { variable: String, detail: String },
}

/// The overrides among `vars`, each key spelled as the file spells it. `file` is the file's
/// top-level table.
pub(super) fn overrides(
    file: &config::Map<String, config::Value>,
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<Vec<Override>, OverrideError> {
    let mut found = Vec::new();
    for (name, value) in vars {
        // A name that is not UTF-8 cannot start with our ASCII prefix as text; skip it.
        let Some(variable) = name.to_str().filter(|n| n.starts_with(PREFIX)) else {
            continue;
        };
        let unusable = |detail: String| OverrideError::Unusable {
            variable: variable.to_owned(),
            detail,
        };
        let value = value
            .into_string()
            .map_err(|_| unusable("the value is not UTF-8".into()))?;
        let levels: Vec<&str> = variable[PREFIX.len()..].split("__").collect();
        if levels.iter().any(|level| level.is_empty()) {
            return Err(unusable(
                "a level of the name is empty (levels are separated by exactly two '_')".into(),
            ));
        }
        unknown_connector(file, &levels).map_err(unusable)?;
        let (key, replaces) = spell(file, &levels).map_err(unusable)?;
        found.push(Override {
            variable: variable.to_owned(),
            key,
            value,
            replaces,
        });
    }
    found.sort_by(|a, b| a.variable.cmp(&b.variable));
    Ok(found)
}

/// An override below `connectors` must name a connector the file defines: a misspelt name would
/// otherwise make a connector of its own, and the error would be about its missing keys.
fn unknown_connector(
    file: &config::Map<String, config::Value>,
    levels: &[&str],
) -> Result<(), String> {
    let [section, name, ..] = levels else {
        return Ok(());
    };
    if !section.eq_ignore_ascii_case("connectors") {
        return Ok(());
    }
    let configured: Vec<String> = file
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("connectors"))
        .and_then(|(_, value)| value.clone().into_table().ok())
        .map(|table| table.into_keys().collect())
        .unwrap_or_default();
    if configured.iter().any(|key| key.eq_ignore_ascii_case(name)) {
        return Ok(());
    }
    let mut configured = configured;
    configured.sort_unstable();
    Err(format!(
        "names connector {name:?}, which the file does not have (configured: {}); an override \
         changes a connector of the file, it does not add one",
        if configured.is_empty() {
            "none".to_owned()
        } else {
            configured.join(", ")
        }
    ))
}

/// The key path for these levels: at each level the file's key that equals it without case, if
/// exactly one does; otherwise the level in lower case (config keys are snake_case). Also the
/// kind of value the file holds there.
fn spell(
    file: &config::Map<String, config::Value>,
    levels: &[&str],
) -> Result<(String, Option<Kind>), String> {
    let mut table = Some(file.clone());
    let mut leaf = None;
    let mut path = Vec::with_capacity(levels.len());
    for level in levels {
        let matches: Vec<&String> = table
            .iter()
            .flat_map(|t| t.keys())
            .filter(|key| key.eq_ignore_ascii_case(level))
            .collect();
        let key = match matches.as_slice() {
            [] => level.to_lowercase(),
            [one] => (*one).clone(),
            several => {
                let mut names: Vec<&str> = several.iter().map(|k| k.as_str()).collect();
                names.sort_unstable();
                return Err(format!(
                    "{level} matches several keys of the file ({}) that differ only in case; \
                     rename one of them",
                    names.join(", ")
                ));
            }
        };
        leaf = table.and_then(|mut t| t.remove(&key));
        table = leaf.clone().and_then(|value| value.into_table().ok());
        path.push(key);
    }
    Ok((path.join("."), leaf.as_ref().map(Kind::of)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> config::Map<String, config::Value> {
        use config::Source as _;
        config::File::from_str(text, config::FileFormat::Toml)
            .collect()
            .unwrap()
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn levels_take_the_file_s_spelling() {
        let file = file("[connectors.HR.target]\nconcurrency = 2\n[connectors.hq.source]\n");
        let found = overrides(
            &file,
            vars(&[
                ("ORGSYNC__CONNECTORS__HR__TARGET__CONCURRENCY", "4"),
                ("ORGSYNC__CONNECTORS__HQ__SOURCE__CORP_ID", "ww1"),
                ("ORGSYNC__STATE_DIR", "/tmp/x"),
                ("ORGSYNC_LOG", "debug"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        let keys: Vec<&str> = found.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "connectors.hq.source.corp_id",
                "connectors.HR.target.concurrency",
                "state_dir"
            ]
        );
    }

    #[test]
    fn an_override_of_a_connector_the_file_lacks_is_refused_naming_both() {
        let file = file("[connectors.hq.source]\ncorp_id = \"x\"\n");
        let error = overrides(
            &file,
            vars(&[("ORGSYNC__CONNECTORS__HQQ__SOURCE__CORP_ID", "y")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("ORGSYNC__CONNECTORS__HQQ__SOURCE__CORP_ID")
                && error.contains("names connector \"HQQ\"")
                && error.contains("configured: hq"),
            "{error}"
        );
        assert!(
            overrides(
                &file,
                vars(&[("ORGSYNC__CONNECTORS__HQ__SOURCE__CORP_ID", "y")])
            )
            .is_ok()
        );
        assert!(overrides(&file, vars(&[("ORGSYNC__STATE_DIR", "/x")])).is_ok());
    }

    #[test]
    fn a_name_matching_two_keys_or_an_empty_level_is_refused_naming_the_variable() {
        let file = file("[connectors.HR]\n[connectors.hr]\n");
        let error = overrides(&file, vars(&[("ORGSYNC__CONNECTORS__HR__SCHEDULE", "x")]))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("environment variable ORGSYNC__CONNECTORS__HR__SCHEDULE: HR matches several keys of the file (HR, hr)"),
            "{error}"
        );
        let error = overrides(&file, vars(&[("ORGSYNC__CONNECTORS____HR", "x")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("ORGSYNC__CONNECTORS____HR"), "{error}");
    }
}
