//! Config files: TOML through the loader and validation.
//! The same body runs under proptest in tests/fuzz_smoke.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    orgsync::config::fuzz_parse(data);
});
