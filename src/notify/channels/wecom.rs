//! A WeCom group robot: markdown messages to the webhook URL, whose `key` authenticates; errors
//! come as `errcode` in a 200 answer. WeCom's markdown has no links with titles in every client,
//! so the link is also given bare.

use super::{SendError, coded_answer, post};
use crate::notify::Message;
use serde::Serialize;

/// "api freq out of limit": more than 20 messages a minute.
const FREQ_OUT_OF_LIMIT: i64 = 45009;
/// WeCom's markdown content limit, in bytes.
const MAX_CONTENT: usize = 4096;

pub(super) struct Robot {
    url: url::Url,
}

#[derive(Serialize)]
struct Body {
    msgtype: &'static str,
    markdown: Markdown,
}

#[derive(Serialize)]
struct Markdown {
    content: String,
}

impl Robot {
    pub(super) fn new(url: url::Url) -> Self {
        Robot { url }
    }

    pub(super) async fn send(
        &self,
        http: &reqwest::Client,
        message: &Message,
    ) -> Result<(), SendError> {
        let mut content = message.markdown("###");
        if content.len() > MAX_CONTENT {
            let mut end = MAX_CONTENT - 3;
            while !content.is_char_boundary(end) {
                end -= 1;
            }
            content.truncate(end);
            content.push('…');
        }
        let body = serde_json::to_vec(&Body {
            msgtype: "markdown",
            markdown: Markdown { content },
        })
        .map_err(|e| SendError::Malformed {
            detail: e.to_string(),
        })?;
        let (_, answer) = post(http, self.url.clone(), body, &[]).await?;
        coded_answer(&answer, "errcode", "errmsg", &[FREQ_OUT_OF_LIMIT])
    }
}
