//! A profile's JSONPath selector on customs' own tree against `serde_json_path` on
//! serde_json's `Value`: the selector, a line feed, the JSON document.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = customs::fuzzing::selector(data);
});
