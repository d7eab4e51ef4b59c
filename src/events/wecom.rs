//! WeCom's contact change callbacks (`change_contact`, `subscribe`/`unsubscribe`): URL
//! verification by `echostr`, `msg_signature`, AES-256-CBC with the EncodingAESKey (notes §8).
//!
//! Order of checks, because the request is hostile until its signature matched: the query and
//! the envelope's `<Encrypt>` only, then the signature, then decryption and the receiver id (the
//! corp), and only then the event's own XML.
//!
//! XML is read with quick-xml: well kept, streaming (bounded memory on a hostile envelope), and it
//! never expands DTD entities (no entity bombs, no external entities). Only `<xml>`'s direct
//! children are read; nested ones (`ExtAttr` items of older callbacks) are passed over.

use super::wechat_crypto::{WechatCipher, signature_matches};
use super::{
    Accepted, Incoming, IncomingMethod, Notice, Opened, Opener, Refusal, Reply, StoredEvent,
};
use crate::config::{EventsConfig, Secret, SecretRef};
use crate::model::{DepartmentId, UserKey};
use crate::pullers::wecom::WecomSourceConfig;
use jiff::Timestamp;
use quick_xml::events::Event;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Checks and reads one connector's WeCom callbacks.
#[derive(Debug)]
pub struct WecomOpener {
    corp_id: String,
    token: Secret,
    cipher: WechatCipher,
}

impl WecomOpener {
    /// Resolves the connector's secrets and checks the key's shape.
    pub fn from_config(source: &WecomSourceConfig, events: &EventsConfig) -> Result<Self, String> {
        let token = required_secret(
            events.token.as_ref(),
            "token",
            "WeCom signs its callbacks with the Token set on the callback's page",
        )?;
        let aes_key = required_secret(
            events.aes_key.as_ref(),
            "aes_key",
            "WeCom encrypts its callbacks with the EncodingAESKey set on the callback's page",
        )?;
        Self::new(&source.corp_id, token, aes_key.expose())
    }

    /// An opener for `corp_id`'s callbacks signed with `token` and encrypted with `aes_key`.
    pub fn new(corp_id: &str, token: Secret, aes_key: &str) -> Result<Self, String> {
        let cipher =
            WechatCipher::new(aes_key).map_err(|error| format!("events.aes_key: {error}"))?;
        Ok(WecomOpener {
            corp_id: corp_id.to_owned(),
            token,
            cipher,
        })
    }

    /// The signature check and decryption every request goes through.
    fn unseal(&self, query: &SignedQuery<'_>, encrypt: &str) -> Result<Vec<u8>, Refusal> {
        if !signature_matches(
            query.signature,
            self.token.expose(),
            query.timestamp,
            query.nonce,
            encrypt,
        ) {
            return Err(Refusal::Forged);
        }
        let decrypted = self.cipher.decrypt(encrypt)?;
        if decrypted.receiver != self.corp_id {
            return Err(Refusal::Foreign);
        }
        Ok(decrypted.message)
    }
}

impl Opener for WecomOpener {
    fn open(&self, request: &Incoming<'_>, now: Timestamp) -> Result<Opened, Refusal> {
        let query = SignedQuery::of(request.query)?;
        match request.method {
            IncomingMethod::Get => {
                let echostr = required(request.query, "echostr")?;
                let plain = self.unseal(&query, echostr)?;
                Ok(Opened::Handshake {
                    reply: Reply::text(plain),
                })
            }
            IncomingMethod::Post => {
                let envelope = read_flat_xml(request.body)?;
                let encrypt = envelope
                    .get("Encrypt")
                    .ok_or_else(|| Refusal::Malformed("the body has no Encrypt".into()))?;
                let payload = self.unseal(&query, encrypt)?;
                let fields = read_flat_xml(&payload)?;
                let sent_at = Timestamp::from_second(query.seconds)
                    .map_err(|_| Refusal::Malformed("the timestamp is out of range".into()))?;
                let (event_type, notices) = interpret(&fields)?;
                let occurred_at = fields
                    .get("CreateTime")
                    .and_then(|text| text.trim().parse::<i64>().ok())
                    .and_then(|seconds| Timestamp::from_second(seconds).ok());
                Ok(Opened::Event {
                    accepted: Accepted {
                        dedupe: crate::hex::encode(&Sha256::digest(&payload)),
                        sent_at,
                        event: StoredEvent {
                            event_type,
                            received_at: now,
                            occurred_at,
                            notices,
                        },
                    },
                    reply: Reply::text("success"),
                })
            }
        }
    }
}

/// A secret of `[connectors.NAME.events]` that WeCom cannot do without, resolved now; the
/// error names the key and why it is needed.
fn required_secret(reference: Option<&SecretRef>, key: &str, why: &str) -> Result<Secret, String> {
    reference
        .ok_or_else(|| format!("events.{key} is missing: {why}"))?
        .resolve()
        .map_err(|error| format!("events.{key}: {error}"))
}

/// The signed query parameters every callback carries.
struct SignedQuery<'a> {
    signature: &'a str,
    timestamp: &'a str,
    nonce: &'a str,
    seconds: i64,
}

impl<'a> SignedQuery<'a> {
    fn of(query: &'a BTreeMap<String, String>) -> Result<Self, Refusal> {
        let timestamp = required(query, "timestamp")?;
        let seconds = timestamp
            .parse::<i64>()
            .map_err(|_| Refusal::Malformed("the timestamp is not a number of seconds".into()))?;
        Ok(SignedQuery {
            signature: required(query, "msg_signature")?,
            timestamp,
            nonce: required(query, "nonce")?,
            seconds,
        })
    }
}

fn required<'a>(query: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, Refusal> {
    query
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| Refusal::Malformed(format!("the query has no {name}")))
}

/// Events of the app's callback that say nothing about who is in the directory.
const IGNORED_EVENTS: &[&str] = &[
    "enter_agent",
    "LOCATION",
    "click",
    "view",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
    "batch_job_result",
    "open_approval_change",
    "sys_approval_change",
    "taskcard_click",
    "template_card_event",
    "template_card_menu_event",
    "change_app_admin",
    "share_agent_change",
    "share_chain_change",
    "living_status_change",
    "msgaudit_notify",
    "change_external_contact",
    "change_external_chat",
    "change_external_tag",
    "kf_msg_or_event",
];

/// The event's type and what it says changed.
fn interpret(fields: &BTreeMap<String, String>) -> Result<(String, Vec<Notice>), Refusal> {
    let field = |name: &str| {
        fields
            .get(name)
            .map(|text| text.trim())
            .filter(|t| !t.is_empty())
    };
    let msg_type =
        field("MsgType").ok_or_else(|| Refusal::Malformed("the event has no MsgType".into()))?;
    if msg_type != "event" {
        // A message someone sent the app: nothing about the directory.
        let event_type = format!("message/{msg_type}");
        return Ok((event_type.clone(), vec![Notice::Ignored { event_type }]));
    }
    let event =
        field("Event").ok_or_else(|| Refusal::Malformed("the event has no Event".into()))?;
    let user = |name: &str| {
        field(name)
            .map(UserKey::new)
            .ok_or_else(|| Refusal::Malformed(format!("the {event} event has no {name}")))
    };
    match event {
        "change_contact" => {
            let change = field("ChangeType")
                .ok_or_else(|| Refusal::Malformed("change_contact has no ChangeType".into()))?;
            let event_type = format!("change_contact/{change}");
            let notices = match change {
                "create_user" | "update_user" | "delete_user" => {
                    let mut keys = vec![user("UserID")?];
                    // A changed userid: the old one is gone, the new one is to be read.
                    keys.extend(field("NewUserID").map(UserKey::new));
                    vec![Notice::People { keys }]
                }
                "create_party" | "update_party" | "delete_party" => {
                    let id = field("Id")
                        .ok_or_else(|| Refusal::Malformed(format!("{event_type} has no Id")))?;
                    vec![Notice::Departments {
                        ids: vec![DepartmentId::new(id)],
                    }]
                }
                "update_tag" => tag_notices(&field),
                _ => vec![Notice::Unknown {
                    event_type: event_type.clone(),
                }],
            };
            let notices = if notices.is_empty() {
                // A tag change without members (its name): nothing to re-read.
                vec![Notice::Ignored {
                    event_type: event_type.clone(),
                }]
            } else {
                notices
            };
            Ok((event_type, notices))
        }
        // The self-built app's range gained or lost this person (or they were disabled).
        "subscribe" | "unsubscribe" => Ok((
            event.to_owned(),
            vec![Notice::People {
                keys: vec![user("FromUserName")?],
            }],
        )),
        known if IGNORED_EVENTS.contains(&known) => Ok((
            known.to_owned(),
            vec![Notice::Ignored {
                event_type: known.to_owned(),
            }],
        )),
        unknown => Ok((
            unknown.to_owned(),
            vec![Notice::Unknown {
                event_type: unknown.to_owned(),
            }],
        )),
    }
}

/// `update_tag`: its members and departments added or removed (comma lists). Whether the
/// tag matters (the app's range may be shared with it) is for the re-read to find out.
fn tag_notices<'f>(field: &impl Fn(&str) -> Option<&'f str>) -> Vec<Notice> {
    let items = |names: [&str; 2]| -> Vec<&'f str> {
        names
            .into_iter()
            .filter_map(field)
            .flat_map(|list| list.split(','))
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .collect()
    };
    let mut notices = Vec::new();
    let people = items(["AddUserItems", "DelUserItems"]);
    if !people.is_empty() {
        notices.push(Notice::People {
            keys: people.into_iter().map(UserKey::new).collect(),
        });
    }
    let departments = items(["AddPartyItems", "DelPartyItems"]);
    if !departments.is_empty() {
        notices.push(Notice::Departments {
            ids: departments.into_iter().map(DepartmentId::new).collect(),
        });
    }
    notices
}

/// The text of each direct child of the root `<xml>` (text and CDATA joined, references
/// resolved; a child with children of its own is read as empty). Anything that is not
/// well-formed XML under a root named `xml` is [`Refusal::Malformed`].
fn read_flat_xml(bytes: &[u8]) -> Result<BTreeMap<String, String>, Refusal> {
    let malformed = |what: &str| Refusal::Malformed(format!("the XML {what}"));
    let text = std::str::from_utf8(bytes).map_err(|_| malformed("is not UTF-8"))?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut fields = BTreeMap::new();
    // Depth 0: before the root; 1: inside <xml>; 2: inside a field; deeper: nested, skipped.
    let mut depth = 0usize;
    let mut seen_root = false;
    let mut current: Option<(String, String)> = None;
    // Whether the current field has elements inside (ExtAttr): it is then read as empty.
    let mut nested = false;
    loop {
        match reader
            .read_event()
            .map_err(|_| malformed("is not well-formed"))?
        {
            Event::Start(start) => {
                depth += 1;
                let name = start.name().as_ref().to_owned();
                match depth {
                    1 if name == "xml" && !seen_root => seen_root = true,
                    1 => return Err(malformed("root is not <xml>")),
                    2 => {
                        current = Some((name, String::new()));
                        nested = false;
                    }
                    _ => nested = true,
                }
            }
            Event::Empty(empty) => {
                let name = empty.name().as_ref().to_owned();
                match depth {
                    0 if name == "xml" && !seen_root => seen_root = true,
                    0 => return Err(malformed("root is not <xml>")),
                    1 => {
                        fields.insert(name, String::new());
                    }
                    _ => nested = true,
                }
            }
            Event::End(_) => {
                if depth == 2
                    && let Some((name, value)) = current.take()
                {
                    fields.insert(name, if nested { String::new() } else { value });
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(content) if depth == 2 => push(&mut current, &content.xml10_content()),
            Event::CData(content) if depth == 2 => push(&mut current, &content.xml10_content()),
            Event::GeneralRef(reference) if depth == 2 => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(ch)) => ch.to_string(),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&reference)
                        .ok_or_else(|| malformed("names an unknown entity"))?
                        .to_owned(),
                    Err(_) => return Err(malformed("has a bad character reference")),
                };
                push(&mut current, &resolved);
            }
            // Text inside nested structure: passed over.
            Event::Text(_) if depth > 2 => {}
            Event::Text(content) if depth < 2 && !content.trim_ascii().is_empty() => {
                return Err(malformed("has text outside the fields"));
            }
            Event::CData(_) | Event::GeneralRef(_) if depth < 2 => {
                return Err(malformed("has text outside the fields"));
            }
            Event::DocType(_) => return Err(malformed("declares a DTD")),
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root || depth != 0 {
        return Err(malformed("is not one complete <xml> document"));
    }
    Ok(fields)
}

fn push(current: &mut Option<(String, String)>, text: &str) {
    if let Some((_, value)) = current.as_mut() {
        value.push_str(text);
    }
}

#[cfg(test)]
#[path = "wecom_tests.rs"]
mod tests;
