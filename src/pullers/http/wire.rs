//! Serde helpers for upstream payloads that are loose about types.

use serde::{Deserialize, Deserializer};

/// An id sent as a number by some endpoints and as a string by others (or by other API versions).
pub fn id_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Int(i64),
        UInt(u64),
    }
    Ok(match Id::deserialize(deserializer)? {
        Id::Text(s) => s,
        Id::Int(n) => n.to_string(),
        Id::UInt(n) => n.to_string(),
    })
}

/// A list of ids where each element may be a number or a string; `null` reads as empty.
pub fn id_strings<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "id_string")] String);
    let items: Option<Vec<Wrapped>> = Option::deserialize(deserializer)?;
    Ok(items.unwrap_or_default().into_iter().map(|w| w.0).collect())
}

/// An optional id in either form; `null`, a missing field and `""` read as `None`.
pub fn opt_id_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "id_string")] String);
    let value: Option<Wrapped> = Option::deserialize(deserializer)?;
    Ok(value.map(|w| w.0).filter(|s| !s.is_empty()))
}

/// A token lifetime in seconds, any sign and any size (`-1`, `0`, `18446744073709551615`, or a
/// string of one, all seen from broken upstreams), for [`super::token::lifetime_from_secs`] to
/// clamp; `null`, a missing field and `""` read as `None`.
pub fn opt_lifetime_secs<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i128>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Secs {
        Int(i64),
        UInt(u64),
        Float(f64),
        Text(String),
    }
    Ok(match Option::<Secs>::deserialize(deserializer)? {
        None => None,
        Some(Secs::Int(n)) => Some(i128::from(n)),
        Some(Secs::UInt(n)) => Some(i128::from(n)),
        // `as` saturates: NaN is 0, infinities the extremes; the clamp does the rest.
        Some(Secs::Float(f)) => Some(f as i128),
        Some(Secs::Text(t)) if t.trim().is_empty() => None,
        Some(Secs::Text(t)) => Some(t.trim().parse().map_err(serde::de::Error::custom)?),
    })
}
