//! DingTalk answers (token, auth/scopes, listsub, user/list pages, user/get) and their conversion.
//! The same body runs under proptest in tests/fuzz_smoke.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    orgsync::pullers::dingtalk::fuzz::parse(data);
});
