//! Feishu's event crypto: the `X-Lark-Signature` digest and the `{"encrypt": …}` envelope's
//! AES-256-CBC. Pure functions; the opener decides what a failure means.

use aes::Aes256;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cbc::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
use sha2::{Digest, Sha256};

/// The AES key Feishu derives from the Encrypt Key: its SHA-256.
pub(super) fn aes_key(encrypt_key: &str) -> [u8; 32] {
    Sha256::digest(encrypt_key.as_bytes()).into()
}

/// SHA-256 of timestamp + nonce + encrypt key + the raw body, as Feishu signs every event
/// request (not a MAC: the key is simply part of the hashed text).
pub(super) fn signature(timestamp: &str, nonce: &str, encrypt_key: &str, body: &[u8]) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(timestamp.as_bytes());
    digest.update(nonce.as_bytes());
    digest.update(encrypt_key.as_bytes());
    digest.update(body);
    digest.finalize().into()
}

/// Whether `presented` (hex, any case) is `expected`, compared in constant time so that an
/// attacker cannot learn the digest a byte at a time.
pub(super) fn signature_matches(presented: &str, expected: &[u8; 32]) -> bool {
    crate::hex::decode(presented.trim()).is_some_and(|bytes| same_bytes(&bytes, expected))
}

/// Equal bytes, in time that depends only on the lengths.
pub(super) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && std::hint::black_box(a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y))) == 0
}

/// The plaintext of an `encrypt` field: base64 of a 16-byte IV followed by the AES-256-CBC
/// ciphertext (PKCS#7). `None` for anything that is not such a blob under this key.
pub(super) fn decrypt(key: &[u8; 32], encrypted: &str) -> Option<Vec<u8>> {
    let blob = STANDARD.decode(encrypted.trim()).ok()?;
    let (iv, ciphertext) = blob.split_at_checked(16)?;
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
        return None;
    }
    cbc::Decryptor::<Aes256>::new_from_slices(key, iv)
        .ok()?
        .decrypt_padded_vec::<Pkcs7>(ciphertext)
        .ok()
}
