//! Request parameters the way Bitrix24 (PHP) reads them: the query string, then a JSON or
//! form-encoded body on top, with PHP's bracket syntax (`FILTER[ACTIVE]=true`, `cmd[u0]=…`,
//! `ID[]=5`) building nested maps and lists.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Params(pub Map<String, Value>, CmdOrder);

/// The keys of `cmd` in the order sent: a batch runs its commands in that order.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
struct CmdOrder {
    #[serde(default, deserialize_with = "ordered_keys")]
    cmd: Vec<String>,
}

fn ordered_keys<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of commands")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            let mut keys = Vec::new();
            while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                keys.push(key);
            }
            Ok(keys)
        }
    }
    // Anything but an object fails here, and the batch then runs in map order.
    deserializer.deserialize_map(Keys)
}

impl Params {
    /// From a query string (`a=1&cmd[u0]=user.get%3Fstart%3D0`).
    pub fn from_query(query: &str) -> Self {
        let mut params = Params::default();
        params.merge_form(query.as_bytes());
        params
    }

    /// Adds a request body: JSON when it looks like JSON (or says so), else form-encoded.
    pub fn merge_body(&mut self, content_type: Option<&str>, body: &[u8]) -> Result<(), ()> {
        let trimmed = body.trim_ascii_start();
        if trimmed.is_empty() {
            return Ok(());
        }
        let says_json = content_type.is_some_and(|c| c.contains("json"));
        if says_json || trimmed.starts_with(b"{") {
            match serde_json::from_slice::<Value>(trimmed) {
                Ok(Value::Object(map)) => {
                    if let Ok(order) = serde_json::from_slice::<CmdOrder>(trimmed)
                        && map.contains_key("cmd")
                    {
                        self.1 = order;
                    }
                    self.0.extend(map);
                    Ok(())
                }
                _ => Err(()),
            }
        } else {
            self.merge_form(body);
            Ok(())
        }
    }

    fn merge_form(&mut self, form: &[u8]) {
        for (key, value) in form_urlencoded::parse(form) {
            if let Some(name) = key.strip_prefix("cmd[").and_then(|k| k.split(']').next())
                && !self.1.cmd.iter().any(|k| k == name)
            {
                self.1.cmd.push(name.to_owned());
            }
            insert(&mut self.0, &key, Value::String(value.into_owned()));
        }
    }

    /// `cmd`'s keys in the order sent (keys the order missed follow in map order).
    pub fn cmd_order(&self) -> Vec<String> {
        let mut keys = self.1.cmd.clone();
        if let Some(Value::Object(cmd)) = self.0.get("cmd") {
            keys.retain(|k| cmd.contains_key(k));
            for key in cmd.keys() {
                if !keys.contains(key) {
                    keys.push(key.clone());
                }
            }
        }
        keys
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// A parameter as text (strings and numbers).
    pub fn text(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// `start` as PHP's `intval` reads it: leading digits, anything else 0; `None` when absent.
    /// `START` is accepted too (the department docs spell it so).
    pub fn start(&self) -> Option<i64> {
        let raw = self.text("start").or_else(|| self.text("START"))?;
        let raw = raw.trim();
        let (sign, digits) = match raw.strip_prefix('-') {
            Some(rest) => (-1, rest),
            None => (1, raw),
        };
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        Some(sign * digits[..end].parse::<i64>().unwrap_or(0))
    }

    /// PHP truthiness of a flag like `halt`.
    pub fn flag(&self, key: &str) -> bool {
        match self.0.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0),
            Some(Value::String(s)) => !matches!(s.as_str(), "" | "0"),
            _ => false,
        }
    }
}

/// Inserts `a[b][]=v` as `{"a": {"b": [v]}}`. A later scalar replaces an earlier map, as in PHP.
fn insert(map: &mut Map<String, Value>, key: &str, value: Value) {
    let (head, mut rest) = match key.find('[') {
        Some(i) if i > 0 => (&key[..i], &key[i..]),
        _ => {
            map.insert(key.to_owned(), value);
            return;
        }
    };
    let mut path = vec![head.to_owned()];
    while let Some(inner) = rest.strip_prefix('[') {
        let Some(close) = inner.find(']') else { break };
        path.push(inner[..close].to_owned());
        rest = &inner[close + 1..];
    }
    let mut slot = map
        .entry(path[0].clone())
        .or_insert_with(|| Value::Object(Map::new()));
    for segment in &path[1..] {
        if segment.is_empty() {
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            let Value::Array(items) = slot else { return };
            items.push(Value::Object(Map::new()));
            slot = items.last_mut().expect("just pushed");
        } else {
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(children) = slot else {
                return;
            };
            slot = children
                .entry(segment.clone())
                .or_insert_with(|| Value::Object(Map::new()));
        }
    }
    *slot = value;
}

/// A batch command `method?query` → the method name (without `.json`) and its parameters.
pub(super) fn command(text: &str) -> (String, Params) {
    let (method, query) = text.split_once('?').unwrap_or((text, ""));
    (method_name(method), Params::from_query(query))
}

/// `user.get.json` → `user.get`; method names are case-insensitive in Bitrix24.
pub(super) fn method_name(raw: &str) -> String {
    let raw = raw.trim();
    raw.strip_suffix(".json")
        .unwrap_or(raw)
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn brackets_nest_and_append() {
        let params = Params::from_query(
            "FILTER[ACTIVE]=true&FILTER[%3EID]=5&ID[]=1&ID[]=2&cmd[u0]=user.get%3Fstart%3D50&start=50",
        );
        assert_eq!(
            Value::Object(params.0.clone()),
            json!({"FILTER": {"ACTIVE": "true", ">ID": "5"}, "ID": ["1", "2"],
                   "cmd": {"u0": "user.get?start=50"}, "start": "50"})
        );
        assert_eq!(params.start(), Some(50));
    }

    #[test]
    fn json_and_form_bodies_merge_over_the_query() {
        let mut params = Params::from_query("start=0&auth=q");
        params
            .merge_body(Some("application/json"), br#"{"start": 100, "halt": 0}"#)
            .unwrap();
        assert_eq!(params.start(), Some(100));
        assert!(!params.flag("halt"));
        params
            .merge_body(Some("application/x-www-form-urlencoded"), b"auth=f&halt=1")
            .unwrap();
        assert_eq!(params.text("auth").as_deref(), Some("f"));
        assert!(params.flag("halt"));
        assert!(params.merge_body(None, b"{not json").is_err());
    }

    #[test]
    fn batch_commands_keep_the_order_sent() {
        let mut json = Params::default();
        json.merge_body(None, br#"{"cmd": {"u50": "a", "u100": "b", "u0": "c"}}"#)
            .unwrap();
        assert_eq!(json.cmd_order(), ["u50", "u100", "u0"]);
        let form = Params::from_query("cmd[u50]=a&cmd[u100]=b&cmd[u0]=c");
        assert_eq!(form.cmd_order(), ["u50", "u100", "u0"]);
    }

    #[test]
    fn start_reads_like_intval() {
        for (raw, expected) in [("50", 50), ("-1", -1), ("abc", 0), ("75x", 75)] {
            assert_eq!(
                Params::from_query(&format!("start={raw}")).start(),
                Some(expected)
            );
        }
        assert_eq!(Params::from_query("START=100").start(), Some(100));
        assert_eq!(Params::from_query("").start(), None);
    }

    #[test]
    fn commands_split_method_and_query() {
        let (method, params) = command("User.Get.json?start=150");
        assert_eq!(method, "user.get");
        assert_eq!(params.start(), Some(150));
    }
}
