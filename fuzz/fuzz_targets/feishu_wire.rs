//! Feishu answers (tenant token, scopes, department and user pages, single reads) and their conversion.
//! The same body runs under proptest in tests/fuzz_smoke.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    orgsync::pullers::feishu::fuzz::parse(data);
});
