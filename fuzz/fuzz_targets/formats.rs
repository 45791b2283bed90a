//! The structured text readers: CSV, TSV, XML, YAML, GraphQL (see
//! `customs::fuzzing::formats`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = customs::fuzzing::formats(data);
});
