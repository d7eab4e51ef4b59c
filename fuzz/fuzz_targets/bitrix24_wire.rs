//! Bitrix24 answers (error head, OAuth token, batch envelope, paging counters) and their conversion.
//! The same body runs under proptest in tests/fuzz_smoke.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    orgsync::pullers::bitrix24::fuzz::parse(data);
});
