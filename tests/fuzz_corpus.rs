//! Replays the committed fuzz seed corpora (and anything the fuzzers added to them)
//! through the same entry points the fuzz targets call, without libFuzzer.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn inspect_corpus_replays() {
    let files = corpus("inspect");
    assert!(
        files.len() >= 40,
        "the inspect corpus has only {} inputs",
        files.len()
    );
    let mut forwarded = 0;
    for (name, data) in &files {
        let r = std::panic::catch_unwind(|| customs::fuzzing::inspect(data));
        match r {
            Ok(Some(true)) => forwarded += 1,
            Ok(_) => {}
            Err(_) => panic!("inspect panicked on corpus input {name}"),
        }
    }
    // The corpus holds both benign and personal bodies: both outcomes must occur.
    assert!(
        forwarded > 0 && forwarded < files.len(),
        "forwarded {forwarded} of {}",
        files.len()
    );
}

#[test]
fn selector_corpus_replays() {
    let files = corpus("selector");
    assert!(files.len() >= 40, "{} inputs", files.len());
    let (mut tree, mut value) = (0, 0);
    for (name, data) in &files {
        match std::panic::catch_unwind(|| customs::fuzzing::selector(data)) {
            Ok(Some(true)) => tree += 1,
            Ok(Some(false)) => value += 1,
            Ok(None) => {}
            Err(_) => panic!("the selectors disagree, or one panicked, on corpus input {name}"),
        }
    }
    // Both ways of evaluating are exercised: on the tree, and (functions) on the `Value`.
    assert!(
        tree >= 40 && value >= 5,
        "on the tree {tree}, on the Value {value}"
    );
}

#[test]
fn formats_corpus_replays() {
    let files = corpus("formats");
    assert!(files.len() >= 25, "{} inputs", files.len());
    let (mut read, mut refused) = ([0; 5], [0; 5]);
    for (name, data) in &files {
        match std::panic::catch_unwind(|| customs::fuzzing::formats(data)) {
            Ok(Some(true)) => read[data[0] as usize % 5] += 1,
            Ok(Some(false)) => refused[data[0] as usize % 5] += 1,
            Ok(None) => {}
            Err(_) => panic!("a reader panicked or wrote invalid JSON on corpus input {name}"),
        }
    }
    // Every reader both reads and refuses something of its seeds (CSV refuses only
    // bytes that are not UTF-8).
    for r in 0..5 {
        assert!(read[r] >= 2, "reader {r} read {} seeds", read[r]);
        assert!(refused[r] >= 1, "reader {r} refused {} seeds", refused[r]);
    }
}

#[test]
fn policy_corpus_replays() {
    let files = corpus("policy");
    assert!(files.len() >= 5);
    let mut valid = 0;
    for (name, data) in &files {
        match std::panic::catch_unwind(|| customs::fuzzing::policy(data)) {
            Ok(true) => valid += 1,
            Ok(false) => {}
            Err(_) => panic!("the policy loader panicked on corpus input {name}"),
        }
    }
    assert!(valid >= 1 && valid < files.len());
}
