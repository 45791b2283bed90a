//! Free-text scans remembered within one body. A batch repeats its values (a template
//! note, a status line, a support macro), and reading prose for phones, addresses and
//! identifiers is the walk's costliest step: a string read once in a body is not read
//! again in it. Remembering a string costs a hash and a copy (~0.2k instructions for a
//! 60-byte note whose scan costs ~5k), so only strings of `MIN_BYTES` and more are.
//! Nothing outlives the walk (the memo is the walker's, per body), and it is
//! bounded in entries and bytes.

use std::collections::HashMap;
use std::hash::Hasher;

use crate::extract::fields::FxHasher;
use crate::extract::text::TextHit;

/// Strings shorter than this cost less to scan than to remember.
pub(super) const MIN_BYTES: usize = 24;
/// At most this many strings, and this many bytes of them, are remembered per body.
const MAX_ENTRIES: usize = 256;
const MAX_BYTES: usize = 64 * 1024;

type FxBuild = std::hash::BuildHasherDefault<FxHasher>;

#[derive(Default)]
pub(super) struct ScanMemo {
    /// By the hash of the text and the `ipv4` flag: the text itself, and its hits.
    seen: HashMap<u64, (Box<str>, Vec<TextHit>), FxBuild>,
    bytes: usize,
}

impl ScanMemo {
    /// The hits of `text`, from `scan` or from the first time this body held it.
    pub fn hits(
        &mut self,
        text: &str,
        ipv4: bool,
        scan: impl FnOnce(&str) -> Vec<TextHit>,
    ) -> Vec<TextHit> {
        let mut h = FxHasher::default();
        h.write(text.as_bytes());
        h.write_u8(u8::from(ipv4));
        let key = h.finish();
        if let Some((t, hits)) = self.seen.get(&key)
            && **t == *text
        {
            return hits.clone();
        }
        let hits = scan(text);
        let room = self.seen.len() < MAX_ENTRIES && self.bytes + text.len() <= MAX_BYTES;
        if room && !self.seen.contains_key(&key) {
            self.bytes += text.len();
            self.seen.insert(key, (text.into(), hits.clone()));
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::text;

    #[test]
    fn a_remembered_scan_is_the_scan() {
        let mut memo = ScanMemo::default();
        let mut calls = 0;
        let note = "call me on +49 30 1234567 about ticket 4415-2290";
        for ipv4 in [true, true, false, false] {
            let got = memo.hits(note, ipv4, |t| {
                calls += 1;
                text::scan_with(t, ipv4)
            });
            let want = text::scan_with(note, ipv4);
            assert_eq!(got.len(), want.len());
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(a, b)| a.kind == b.kind && a.value == b.value)
            );
        }
        // Once per flag.
        assert_eq!(calls, 2);
    }

    #[test]
    fn the_memo_is_bounded() {
        let mut memo = ScanMemo::default();
        for i in 0..MAX_ENTRIES * 2 {
            let t = format!("a note long enough to be remembered, number {i}");
            memo.hits(&t, true, |t| text::scan_with(t, true));
        }
        assert_eq!(memo.seen.len(), MAX_ENTRIES);
        assert!(memo.bytes <= MAX_BYTES);
    }
}
