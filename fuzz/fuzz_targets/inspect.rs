//! The body inspector across content types and encodings (see `customs::fuzzing::inspect`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = customs::fuzzing::inspect(data);
});
