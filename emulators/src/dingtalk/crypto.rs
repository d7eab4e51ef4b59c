//! DingTalk's callback crypto, the emulator's own implementation (orgsync has another; the two
//! agreeing is the test): AES-256-CBC with key = base64(EncodingAESKey + "="), IV = the key's
//! first 16 bytes, plaintext = 16 random bytes ‖ message length (u32, big-endian) ‖ message ‖
//! the receiver id (the app key), PKCS#7 padded to 32-byte blocks; the signature is the hex
//! SHA-1 of token, timestamp, nonce and ciphertext, sorted and joined.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use sha1::{Digest, Sha1};
use std::sync::atomic::{AtomicU64, Ordering};

/// DingTalk's SDKs decode the EncodingAESKey leniently (spare bits in its last character).
const KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The padding block of the WeChat-style scheme (not AES's 16).
const PAD_BLOCK: usize = 32;

/// Why a callback cannot be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the EncodingAESKey is not 43 characters of base64 for 32 bytes")]
    BadKey,
    #[error("the ciphertext is not base64 of whole AES blocks")]
    BadCiphertext,
    #[error("the plaintext's padding or length is wrong")]
    BadPlaintext,
}

/// One app's callback keys. Debug shows neither the token nor the key.
#[derive(Clone)]
pub struct CallbackCrypto {
    token: String,
    key: [u8; 32],
    receiver_id: String,
}

impl std::fmt::Debug for CallbackCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackCrypto")
            .field("receiver_id", &self.receiver_id)
            .finish_non_exhaustive()
    }
}

impl CallbackCrypto {
    pub fn new(token: &str, aes_key: &str, receiver_id: &str) -> Result<Self, CryptoError> {
        if aes_key.len() != 43 {
            return Err(CryptoError::BadKey);
        }
        let bytes = KEY_BASE64
            .decode(aes_key)
            .map_err(|_| CryptoError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(CallbackCrypto {
            token: token.to_owned(),
            key,
            receiver_id: receiver_id.to_owned(),
        })
    }

    pub fn receiver_id(&self) -> &str {
        &self.receiver_id
    }

    /// `message` sealed for this app, base64.
    pub fn encrypt(&self, message: &[u8]) -> String {
        let mut plain = Vec::with_capacity(message.len() + 64);
        plain.extend_from_slice(&random_prefix());
        let length = u32::try_from(message.len()).unwrap_or(u32::MAX);
        plain.extend_from_slice(&length.to_be_bytes());
        plain.extend_from_slice(message);
        plain.extend_from_slice(self.receiver_id.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.extend(std::iter::repeat_n(pad as u8, pad));
        let cipher = cbc::Encryptor::<aes::Aes256>::new(&self.key.into(), &self.iv().into());
        STANDARD.encode(cipher.encrypt_padded_vec::<NoPadding>(&plain))
    }

    /// The message and the receiver id sealed in `encrypt`.
    pub fn decrypt(&self, encrypt: &str) -> Result<(Vec<u8>, String), CryptoError> {
        let sealed = STANDARD
            .decode(encrypt)
            .map_err(|_| CryptoError::BadCiphertext)?;
        if sealed.is_empty() || sealed.len() % 16 != 0 {
            return Err(CryptoError::BadCiphertext);
        }
        let cipher = cbc::Decryptor::<aes::Aes256>::new(&self.key.into(), &self.iv().into());
        let plain = cipher
            .decrypt_padded_vec::<NoPadding>(&sealed)
            .map_err(|_| CryptoError::BadCiphertext)?;
        let pad = usize::from(*plain.last().ok_or(CryptoError::BadPlaintext)?);
        if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
            return Err(CryptoError::BadPlaintext);
        }
        let body = plain
            .get(16..plain.len() - pad)
            .ok_or(CryptoError::BadPlaintext)?;
        let (length, rest) = body.split_at_checked(4).ok_or(CryptoError::BadPlaintext)?;
        let length = u32::from_be_bytes(length.try_into().map_err(|_| CryptoError::BadPlaintext)?);
        let (message, receiver) = rest
            .split_at_checked(length as usize)
            .ok_or(CryptoError::BadPlaintext)?;
        let receiver =
            String::from_utf8(receiver.to_vec()).map_err(|_| CryptoError::BadPlaintext)?;
        Ok((message.to_vec(), receiver))
    }

    /// The signature over one request or answer.
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        signature(&self.token, timestamp, nonce, encrypt)
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }
}

/// hex(SHA-1(sorted [token, timestamp, nonce, encrypt] joined)).
pub fn signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypt];
    parts.sort_unstable();
    let digest = Sha1::digest(parts.concat().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// 16 bytes that differ for every message (the scheme asks for random ones; an emulator only
/// needs them never to repeat).
fn random_prefix() -> [u8; 16] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let digest = sha2::Sha256::digest(format!("{count}:{nanos}").as_bytes());
    let mut prefix = [0u8; 16];
    prefix.copy_from_slice(&digest[..16]);
    prefix
}

/// A nonce for one request (letters and digits, as DingTalk's).
pub fn nonce() -> String {
    let prefix = random_prefix();
    prefix[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    #[test]
    fn a_sealed_message_opens_with_its_receiver() {
        let crypto = CallbackCrypto::new("tok", KEY, "ding-app").unwrap();
        let sealed = crypto.encrypt(b"{\"EventType\":\"check_url\"}");
        assert_ne!(
            sealed,
            crypto.encrypt(b"{\"EventType\":\"check_url\"}"),
            "random prefix"
        );
        let (message, receiver) = crypto.decrypt(&sealed).unwrap();
        assert_eq!(message, b"{\"EventType\":\"check_url\"}");
        assert_eq!(receiver, "ding-app");
        let other =
            CallbackCrypto::new("tok", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg", "x").unwrap();
        assert!(other.decrypt(&sealed).is_err() || other.decrypt(&sealed).unwrap().0 != message);
    }

    #[test]
    fn the_signature_sorts_its_parts() {
        assert_eq!(signature("b", "a", "d", "c"), signature("a", "b", "c", "d"),);
        // SHA-1("abcd")
        assert_eq!(
            signature("a", "b", "c", "d"),
            "81fe8bfe87576c3ecb22426f8e57847382917acf"
        );
        assert!(CallbackCrypto::new("t", "short", "r").is_err());
    }
}
