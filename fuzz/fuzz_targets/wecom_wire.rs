//! WeCom answers (token, department/list, user/list, user/get, agent/get) and their conversion.
//! The same body runs under proptest in tests/fuzz_smoke.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    orgsync::pullers::wecom::fuzz::parse(data);
});
