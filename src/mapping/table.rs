//! Reading a `[target.attributes]` table. TOML reads an unquoted `name.familyName = "…"` as a
//! table `name` holding `familyName`: that is the admin forgetting the quotes, and the error says
//! so instead of "expected a string".

use serde::de::{Deserializer, Error, MapAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;

/// `#[serde(deserialize_with = "crate::mapping::table")]` for an `attributes` field.
pub fn table<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    deserializer.deserialize_map(TableVisitor)
}

struct TableVisitor;

impl<'de> Visitor<'de> for TableVisitor {
    type Value = BTreeMap<String, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of target attribute = source expression")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut table = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            match map.next_value::<Value>()? {
                Value::Text(value) => {
                    table.insert(key, value);
                }
                Value::Table(inner) => {
                    let first = inner.keys().next().map_or("…", String::as_str);
                    return Err(A::Error::custom(format!(
                        "attributes.{key} is a table, not an expression: a target attribute \
                         whose name holds `.` or `:` must be quoted in TOML, e.g. \
                         \"{key}.{first}\" = \"…\""
                    )));
                }
                Value::Other => {
                    return Err(A::Error::custom(format!(
                        "attributes.{key:?}: the value must be text (a field, a template in \
                         quotes, or \"none\")"
                    )));
                }
            }
        }
        Ok(table)
    }
}

/// One value of the table, as TOML may give it.
enum Value {
    Text(String),
    Table(BTreeMap<String, serde::de::IgnoredAny>),
    Other,
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("text")
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Text(v.to_owned()))
            }
            fn visit_string<E: Error>(self, v: String) -> Result<Value, E> {
                Ok(Value::Text(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                let mut inner = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                    inner.insert(k, v);
                }
                Ok(Value::Table(inner))
            }
            fn visit_bool<E: Error>(self, _: bool) -> Result<Value, E> {
                Ok(Value::Other)
            }
            fn visit_i64<E: Error>(self, _: i64) -> Result<Value, E> {
                Ok(Value::Other)
            }
            fn visit_u64<E: Error>(self, _: u64) -> Result<Value, E> {
                Ok(Value::Other)
            }
            fn visit_f64<E: Error>(self, _: f64) -> Result<Value, E> {
                Ok(Value::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Value, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Value::Other)
            }
            fn visit_unit<E: Error>(self) -> Result<Value, E> {
                Ok(Value::Other)
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug)]
    struct Target {
        #[serde(deserialize_with = "super::table")]
        attributes: std::collections::BTreeMap<String, String>,
    }

    fn read(text: &str) -> Result<Target, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn quoted_keys_keep_their_dots_and_an_unquoted_one_is_explained() {
        let target = read("[attributes]\n\"name.familyName\" = \"none\"\ntitle = \"title\"\n")
            .expect("reads");
        assert_eq!(target.attributes["name.familyName"], "none");
        let error = read("[attributes]\nname.familyName = \"none\"\n").expect_err("a table");
        assert!(
            error.contains("must be quoted") && error.contains("\"name.familyName\""),
            "{error}"
        );
        let error = read("[attributes]\ntitle = 3\n").expect_err("a number");
        assert!(error.contains("must be text"), "{error}");
    }
}
