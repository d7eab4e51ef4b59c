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

/// Optional text where a surprising shape must cost the field, never the record: a string, or a
/// number taken as its digits; anything else (and `null`) reads as `None`.
pub fn loose_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Token {
        #[serde(default, deserialize_with = "opt_lifetime_secs")]
        expires_in: Option<i128>,
    }

    fn lifetime(json: &str) -> Option<i128> {
        serde_json::from_str::<Token>(json).unwrap().expires_in
    }

    #[test]
    fn lifetimes_of_any_sign_and_size_are_read() {
        assert_eq!(
            lifetime(r#"{"expires_in": 18446744073709551615}"#),
            Some(i128::from(u64::MAX))
        );
        assert_eq!(lifetime(r#"{"expires_in": -1}"#), Some(-1));
        assert_eq!(lifetime(r#"{"expires_in": "7200"}"#), Some(7200));
        assert_eq!(lifetime(r#"{"expires_in": 1e300}"#), Some(i128::MAX));
        assert_eq!(lifetime(r#"{"expires_in": ""}"#), None);
        assert_eq!(lifetime(r#"{"expires_in": null}"#), None);
        assert_eq!(lifetime("{}"), None);
        assert!(serde_json::from_str::<Token>(r#"{"expires_in": "soon"}"#).is_err());
    }
}
