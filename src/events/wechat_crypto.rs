//! The "WeChat-style" event crypto that WeCom's callbacks and DingTalk's HTTP events share:
//! a SHA-1 signature over the sorted token, timestamp, nonce and ciphertext, and AES-256-CBC
//! under the EncodingAESKey (IV = the key's first 16 bytes, PKCS#7 padding to 32 bytes) of
//! `16 random bytes ‖ 4-byte big-endian length ‖ message ‖ receiver id`.
//!
//! Platform-neutral: which receiver id is expected (a CorpID, a suite key, an AppKey) and what
//! the message means is the caller's business.

use super::Refusal;
use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::{DecodePaddingMode, general_purpose};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use sha1::{Digest, Sha1};

/// The platforms pad to 32 bytes, not to AES's 16.
const PAD_BLOCK: usize = 32;
const PREFIX_LEN: usize = 16;
const LENGTH_LEN: usize = 4;

/// The EncodingAESKey is 43 base64 characters without the `=`; the platforms' own SDKs decode
/// it leniently, so keys whose last character carries non-zero spare bits (wechatpy's test key
/// ends in `R`, not `Q`) are accepted as they are by the platform.
const KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The hex SHA-1 of `token`, `timestamp`, `nonce` and `encrypt`, sorted and concatenated: the
/// `msg_signature` of WeCom and the `signature` of DingTalk's HTTP events.
pub fn signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypt];
    parts.sort_unstable();
    let mut hasher = Sha1::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    crate::hex::encode(&hasher.finalize())
}

/// Whether `expected_hex` (from the request) is the signature of these values, compared in
/// constant time (case-insensitive: the platforms send lowercase, some proxies do not).
pub fn signature_matches(
    expected_hex: &str,
    token: &str,
    timestamp: &str,
    nonce: &str,
    encrypt: &str,
) -> bool {
    let computed = signature(token, timestamp, nonce, encrypt);
    let presented = expected_hex.to_ascii_lowercase();
    if presented.len() != computed.len() {
        return false;
    }
    presented
        .bytes()
        .zip(computed.bytes())
        .fold(0u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

/// A decrypted payload: the message and the receiver id the sender put after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    pub message: Vec<u8>,
    pub receiver: String,
}

/// AES-256-CBC under one EncodingAESKey. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct WechatCipher {
    key: [u8; 32],
}

impl std::fmt::Debug for WechatCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WechatCipher { key: <redacted> }")
    }
}

type Encryptor = cbc::Encryptor<Aes256>;
type Decryptor = cbc::Decryptor<Aes256>;

impl WechatCipher {
    /// The cipher of a 43-character EncodingAESKey. The error names the problem, never the key.
    pub fn new(encoding_aes_key: &str) -> Result<Self, String> {
        let chars = encoding_aes_key.chars().count();
        if chars != 43 {
            return Err(format!(
                "the EncodingAESKey must be 43 characters (base64 without '='), not {chars}"
            ));
        }
        let bytes = KEY_BASE64
            .decode(encoding_aes_key)
            .map_err(|_| "the EncodingAESKey is not base64 (A-Z, a-z, 0-9, + and /)".to_string())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the EncodingAESKey does not decode to 32 bytes".to_string())?;
        Ok(WechatCipher { key })
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }

    /// Decrypts a base64 ciphertext. Every length is checked: anything that is not exactly
    /// what the platforms produce is [`Refusal::Undecryptable`].
    pub fn decrypt(&self, encrypt_b64: &str) -> Result<Decrypted, Refusal> {
        let ciphertext = general_purpose::STANDARD_PAD_INDIFFERENT
            .decode(encrypt_b64.trim())
            .map_err(|_| Refusal::Undecryptable)?;
        if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(PAD_BLOCK) {
            return Err(Refusal::Undecryptable);
        }
        let plain = Decryptor::new(&self.key.into(), &self.iv().into())
            .decrypt_padded_vec::<NoPadding>(&ciphertext)
            .map_err(|_| Refusal::Undecryptable)?;
        let unpadded = unpad(&plain).ok_or(Refusal::Undecryptable)?;
        let framed = unpadded.get(PREFIX_LEN..).ok_or(Refusal::Undecryptable)?;
        let (length, rest) = framed
            .split_first_chunk::<LENGTH_LEN>()
            .ok_or(Refusal::Undecryptable)?;
        let length =
            usize::try_from(u32::from_be_bytes(*length)).map_err(|_| Refusal::Undecryptable)?;
        if length > rest.len() {
            return Err(Refusal::Undecryptable);
        }
        let (message, receiver) = rest.split_at(length);
        let receiver = std::str::from_utf8(receiver).map_err(|_| Refusal::Undecryptable)?;
        Ok(Decrypted {
            message: message.to_vec(),
            receiver: receiver.to_string(),
        })
    }

    /// Encrypts `message` for `receiver` behind a random prefix, as base64.
    pub fn encrypt(&self, message: &[u8], receiver: &str) -> String {
        self.encrypt_with_prefix(random_prefix(), message, receiver)
    }

    /// [`encrypt`](Self::encrypt) with a given prefix: the published test vectors fix it.
    fn encrypt_with_prefix(
        &self,
        prefix: [u8; PREFIX_LEN],
        message: &[u8],
        receiver: &str,
    ) -> String {
        // The frame's length field is 32 bits; nothing a platform sends comes near it, and a
        // longer message would not be read back by anyone anyway.
        let length = u32::try_from(message.len()).unwrap_or(u32::MAX);
        let mut plain = Vec::with_capacity(
            PREFIX_LEN + LENGTH_LEN + message.len() + receiver.len() + PAD_BLOCK,
        );
        plain.extend_from_slice(&prefix);
        plain.extend_from_slice(&length.to_be_bytes());
        plain.extend_from_slice(message);
        plain.extend_from_slice(receiver.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        // `pad` is 1..=32: always fits a byte.
        plain.extend(std::iter::repeat_n(pad as u8, pad));
        let ciphertext = Encryptor::new(&self.key.into(), &self.iv().into())
            .encrypt_padded_vec::<NoPadding>(&plain);
        STANDARD.encode(ciphertext)
    }
}

/// The 16 random bytes in front of every message. The OS random source does not fail on the
/// systems orgsync runs on; if it ever did, a prefix from the clock and a counter still keeps
/// ciphertexts distinct, which is all the prefix is for (the IV is fixed by the protocol).
fn random_prefix() -> [u8; PREFIX_LEN] {
    let mut prefix = [0u8; PREFIX_LEN];
    if getrandom::fill(&mut prefix).is_err() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let mut hasher = Sha1::new();
        hasher.update(nanos.to_be_bytes());
        hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        prefix.copy_from_slice(&hasher.finalize()[..PREFIX_LEN]);
    }
    prefix
}

/// PKCS#7 with a 32-byte block: the last byte says how many bytes (1..=32) to drop, and each of
/// them must say the same.
fn unpad(plain: &[u8]) -> Option<&[u8]> {
    let &last = plain.last()?;
    let pad = usize::from(last);
    if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
        return None;
    }
    let (kept, padding) = plain.split_at(plain.len() - pad);
    padding.iter().all(|&b| b == last).then_some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    // wechatpy's WeCom crypto tests (tests/test_work_crypto.py), made with Tencent's sample
    // code: a token, a key whose last character has spare bits set, and the echostr of a URL
    // verification with its signature.
    const TOKEN: &str = "123456";
    const KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
    const CORP_ID: &str = "wx49f0ab532d5d035a";
    const ECHOSTR: &str =
        "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==";

    fn cipher() -> WechatCipher {
        WechatCipher::new(KEY).unwrap()
    }

    #[test]
    fn signature_matches_the_published_examples() {
        assert_eq!(
            signature("test", "123456", "test", "rust"),
            "d6056f2bb3ad3e30f4afa5ef90cc9ddcdc7b7b27"
        );
        let published = "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96";
        assert_eq!(
            signature(TOKEN, "1411443780", "437374425", ECHOSTR),
            published
        );
        assert!(signature_matches(
            published,
            TOKEN,
            "1411443780",
            "437374425",
            ECHOSTR
        ));
        assert!(signature_matches(
            &published.to_ascii_uppercase(),
            TOKEN,
            "1411443780",
            "437374425",
            ECHOSTR
        ));
    }

    #[test]
    fn a_changed_value_or_a_short_signature_does_not_match() {
        let published = "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96";
        // wechatpy's "should fail" case: the nonce off by one.
        assert!(!signature_matches(
            published,
            TOKEN,
            "1411443780",
            "437374424",
            ECHOSTR
        ));
        assert!(!signature_matches(
            published,
            "12345",
            "1411443780",
            "437374425",
            ECHOSTR
        ));
        assert!(!signature_matches(
            &published[..39],
            TOKEN,
            "1411443780",
            "437374425",
            ECHOSTR
        ));
        assert!(!signature_matches(
            "",
            TOKEN,
            "1411443780",
            "437374425",
            ECHOSTR
        ));
    }

    #[test]
    fn decrypts_the_published_echostr() {
        let decrypted = cipher().decrypt(ECHOSTR).unwrap();
        assert_eq!(decrypted.message, b"5927782489442352469");
        assert_eq!(decrypted.receiver, CORP_ID);
    }

    #[test]
    fn encrypts_like_the_published_reply() {
        // wechatpy's test_encrypt_message: the random prefix fixed to "1234567890123456".
        let reply = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n\
            <FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n\
            <ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n\
            <CreateTime>1411525903</CreateTime>\n</xml>";
        let expected = "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrl\
            uLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbC\
            FM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvE\
            Btb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8\
            kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3";
        let encrypted =
            cipher().encrypt_with_prefix(*b"1234567890123456", reply.as_bytes(), CORP_ID);
        assert_eq!(encrypted, expected);
        assert_eq!(
            signature(TOKEN, "1411525903", "461056294", &encrypted),
            "407518b7649e86ef23978113f92d27afa9296533"
        );
        let back = cipher().decrypt(&encrypted).unwrap();
        assert_eq!(back.message, reply.as_bytes());
        assert_eq!(back.receiver, CORP_ID);
    }

    #[test]
    fn round_trips_every_length_across_the_padding_boundaries() {
        let cipher = cipher();
        for len in 0..100 {
            let message: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let encrypted = cipher.encrypt(&message, "ding-suite");
            let back = cipher.decrypt(&encrypted).unwrap();
            assert_eq!(back.message, message, "length {len}");
            assert_eq!(back.receiver, "ding-suite");
        }
        assert_eq!(
            cipher.decrypt(&cipher.encrypt(b"", "")).unwrap().receiver,
            ""
        );
    }

    #[test]
    fn the_random_prefix_makes_each_ciphertext_different() {
        let cipher = cipher();
        assert_ne!(
            cipher.encrypt(b"same", CORP_ID),
            cipher.encrypt(b"same", CORP_ID)
        );
    }

    #[test]
    fn another_key_does_not_decrypt() {
        let other = WechatCipher::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
        // A wrong key almost always breaks the padding or the length; if by chance it does not,
        // the receiver is garbage, never the original.
        match other.decrypt(ECHOSTR) {
            Err(refusal) => assert_eq!(refusal, Refusal::Undecryptable),
            Ok(decrypted) => assert_ne!(decrypted.receiver, CORP_ID),
        }
    }

    #[test]
    fn truncated_or_garbled_input_is_undecryptable_without_a_panic() {
        let cipher = cipher();
        let good = cipher.encrypt(b"<xml><Event>x</Event></xml>", CORP_ID);
        let raw = STANDARD.decode(&good).unwrap();
        let mut cases: Vec<String> = vec![
            String::new(),
            "not base64 !!".into(),
            "====".into(),
            STANDARD.encode(&raw[..raw.len() - 1]),
            STANDARD.encode(&raw[..16]),
            STANDARD.encode(&raw[..raw.len() - 32]),
            STANDARD.encode([0u8; 32]),
            good[..good.len() - 4].to_string(),
        ];
        for at in [0, raw.len() - 17, raw.len() - 1] {
            let mut garbled = raw.clone();
            garbled[at] ^= 0x5a;
            cases.push(STANDARD.encode(&garbled));
        }
        for case in &cases {
            match cipher.decrypt(case) {
                Err(refusal) => assert_eq!(refusal, Refusal::Undecryptable, "{case}"),
                // Flipping a byte of an early block garbles that block and the next one's
                // corresponding byte only; the frame can still parse: never the original.
                Ok(decrypted) => assert_ne!(
                    (decrypted.message.as_slice(), decrypted.receiver.as_str()),
                    (&b"<xml><Event>x</Event></xml>"[..], CORP_ID),
                    "{case}"
                ),
            }
        }
    }

    #[test]
    fn a_length_field_beyond_the_payload_is_undecryptable() {
        let cipher = cipher();
        // Frame by hand: prefix, a length of 1000, 3 bytes, padded to 32.
        let mut plain = vec![b'p'; PREFIX_LEN];
        plain.extend_from_slice(&1000u32.to_be_bytes());
        plain.extend_from_slice(b"abc");
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.extend(std::iter::repeat_n(pad as u8, pad));
        let ciphertext = Encryptor::new(&cipher.key.into(), &cipher.iv().into())
            .encrypt_padded_vec::<NoPadding>(&plain);
        assert_eq!(
            cipher.decrypt(&STANDARD.encode(ciphertext)),
            Err(Refusal::Undecryptable)
        );
    }

    #[test]
    fn padding_must_be_consistent_and_at_most_a_block() {
        assert_eq!(unpad(&[1, 2, 3, 2, 2]), Some(&[1u8, 2, 3][..]));
        assert_eq!(unpad(&[1, 2, 3, 1, 2]), None);
        assert_eq!(unpad(&[0]), None);
        assert_eq!(unpad(&[]), None);
        assert_eq!(unpad(&[33; 33]), None);
        assert_eq!(unpad(&[3, 3]), None);
    }

    #[test]
    fn a_key_of_the_wrong_shape_is_refused_without_showing_it() {
        let short = WechatCipher::new("abc").unwrap_err();
        assert!(short.contains("43 characters"), "{short}");
        let not_base64 =
            WechatCipher::new("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1a!").unwrap_err();
        assert!(not_base64.contains("not base64"), "{not_base64}");
        assert!(!not_base64.contains("kWxPEV2U"));
        assert_eq!(
            format!("{:?}", cipher()),
            "WechatCipher { key: <redacted> }"
        );
    }
}
