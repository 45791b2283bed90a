//! The policy loader: parse, validate, compile, render diagnostics.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = customs::fuzzing::policy(data);
});
