//! SCIM answers (list pages, single users, errors) and their conversion to accounts.
//! The same body runs under proptest in tests/fuzz_smoke.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    orgsync::pushers::scim::fuzz::parse(data);
});
