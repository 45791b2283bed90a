//! YAML (`application/yaml`, `text/yaml`), one document or many: mappings are objects,
//! sequences arrays, each document read as a JSON document of its own. Plain scalars
//! that are YAML 1.2 core-schema nulls, booleans or numbers are written as such, every
//! other scalar as a string (so `NO` is Norway, not `false`, as YAML 1.2 has it).
//!
//! Anchors and aliases are bounded: an alias copies its anchor's JSON, and all the JSON
//! written for a body may not pass twice its size and 4 KiB (`yaml_alias_expansion`),
//! which keeps a billion laughs to a few bytes more than the body. A mapping key that is
//! not a scalar, an alias to no anchor, and a document the parser rejects are invalid.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};

use super::{JsonOut, Structured, invalid};
use crate::extract::InspectError;

enum Open {
    Seq,
    /// A mapping, and whether its next node is a key.
    Map(bool),
}

/// Whether text looks like YAML: a `---` or `%YAML` start, or two lines at least of
/// which every one is a comment, a `key: value` (the key quoted or not, spaces and all),
/// or a `- item`, and one a key. Prose that passes is read as YAML, whose values are
/// read as prose in turn; what then does not parse stays prose.
pub fn looks_like(t: &str) -> bool {
    if t.starts_with("---") || t.starts_with("%YAML") {
        return true;
    }
    let mut lines = 0;
    let mut keys = 0;
    for line in t.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        lines += 1;
        let item = l.strip_prefix("- ").unwrap_or(l);
        if is_key_line(item) {
            keys += 1;
        } else if !(l == "-" || l.starts_with("- ")) {
            return false;
        }
    }
    lines >= 2 && keys >= 1
}

/// `key: value` or `key:`, the key not empty.
fn is_key_line(l: &str) -> bool {
    let key_end = l.find(": ").or_else(|| l.strip_suffix(':').map(str::len));
    key_end.is_some_and(|k| k > 0)
}

/// Hands each document to `each` as JSON text, with its index.
pub fn documents(text: &str, max_depth: usize, each: super::Each<'_>) -> Result<(), InspectError> {
    let bad = || invalid(Structured::Yaml);
    let budget = text.len().saturating_mul(2).saturating_add(4096);
    let mut written = 0usize;
    let mut out = JsonOut::default();
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: HashMap<usize, (usize, usize)> = HashMap::new();
    // Open containers' anchors: (anchor id, where its JSON starts).
    let mut opened: Vec<(usize, usize)> = Vec::new();
    let mut index = 0;
    for event in Parser::new_from_str(text) {
        let (event, _) = event.map_err(|_| bad())?;
        match event {
            Event::DocumentStart(_) => {
                out = JsonOut::default();
                // reserved once (the JSON of block YAML, without its indentation, is
                // about its size), so its growth seldom holds two copies
                out.text.reserve(text.len());
                anchors.clear();
            }
            Event::DocumentEnd => {
                if !stack.is_empty() {
                    return Err(bad());
                }
                if !out.text.is_empty() {
                    written += out.text.len();
                    each(index, out.text.as_bytes())?;
                    index += 1;
                }
            }
            Event::Scalar(value, style, anchor, _) => {
                if key_position(&mut stack) {
                    out.key(&value);
                    continue;
                }
                let start = out.value_start();
                scalar(&mut out, &value, style);
                remember(&mut anchors, anchor, start, out.text.len());
                value_written(&mut stack);
            }
            Event::Alias(id) => {
                if key_position(&mut stack) {
                    return Err(bad());
                }
                let (s, e) = anchors.get(&id).copied().ok_or_else(bad)?;
                out.copy_within(s, e);
                value_written(&mut stack);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if key_position(&mut stack) {
                    return Err(bad());
                }
                if stack.len() >= max_depth {
                    return Err(InspectError::TooDeep);
                }
                let seq = matches!(event, Event::SequenceStart(..));
                opened.push((anchor, out.value_start()));
                out.open(if seq { '[' } else { '{' });
                stack.push(if seq { Open::Seq } else { Open::Map(true) });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let seq = matches!(event, Event::SequenceEnd);
                stack.pop().ok_or_else(bad)?;
                out.close(if seq { ']' } else { '}' });
                let (anchor, start) = opened.pop().ok_or_else(bad)?;
                remember(&mut anchors, anchor, start, out.text.len());
                value_written(&mut stack);
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
        if written + out.text.len() > budget {
            return Err(InspectError::Limit {
                name: "yaml_alias_expansion",
                max: budget,
            });
        }
    }
    Ok(())
}

fn remember(anchors: &mut HashMap<usize, (usize, usize)>, anchor: usize, s: usize, e: usize) {
    if anchor > 0 {
        anchors.insert(anchor, (s, e));
    }
}

/// Whether the next node is a mapping's key.
fn key_position(stack: &mut [Open]) -> bool {
    match stack.last_mut() {
        Some(Open::Map(key @ true)) => {
            *key = false;
            true
        }
        _ => false,
    }
}

fn value_written(stack: &mut [Open]) {
    if let Some(Open::Map(key)) = stack.last_mut() {
        *key = true;
    }
}

fn scalar(out: &mut JsonOut, value: &str, style: ScalarStyle) {
    if style != ScalarStyle::Plain {
        return out.string(value);
    }
    match value {
        "" | "~" | "null" | "Null" | "NULL" => out.raw("null"),
        "true" | "True" | "TRUE" => out.raw("true"),
        "false" | "False" | "FALSE" => out.raw("false"),
        v if is_json_number(v) => out.raw(v),
        v => out.string(v),
    }
}

fn is_json_number(v: &str) -> bool {
    v.len() < 32
        && !v.starts_with('+')
        && !(v.len() > 1 && v.starts_with('0') && !v.starts_with("0."))
        && serde_json::from_str::<serde_json::Number>(v).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(t: &str) -> Result<Vec<serde_json::Value>, &'static str> {
        let mut out = Vec::new();
        documents(t, 64, &mut |_, j| {
            out.push(serde_json::from_slice(j).unwrap());
            Ok(())
        })
        .map_err(|e| e.reason())?;
        Ok(out)
    }

    #[test]
    fn mappings_sequences_and_scalars_are_json() {
        let v = docs(
            "users:\n  - email: a@b.example\n    country: NO\n    age: 41\n    zip: 01067\n    ok: true\n    x: ~\n  - {email: 'c@d.example', country: \"DE\"}\n",
        )
        .unwrap();
        let u = &v[0]["users"];
        assert_eq!(u[0]["country"], "NO");
        assert_eq!(u[0]["age"], 41);
        assert_eq!(u[0]["zip"], "01067");
        assert_eq!(u[0]["ok"], true);
        assert!(u[0]["x"].is_null());
        assert_eq!(u[1]["country"], "DE");
    }

    #[test]
    fn every_document_is_read_and_aliases_copy_their_anchor() {
        let v = docs("---\na: &p {country: DE}\nb: *p\n---\n- x\n...\n").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0]["b"]["country"], "DE");
        assert_eq!(v[1][0], "x");
    }

    #[test]
    fn a_billion_laughs_is_refused_and_broken_yaml_is_invalid() {
        let mut lol = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (i, c) in ('b'..='j').enumerate() {
            let prev = (b'a' + i as u8) as char;
            lol.push_str(&format!("{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        }
        assert_eq!(docs(&lol), Err("yaml_alias_expansion"));
        for bad in [
            "a: *nowhere\n",
            "? [a]\n: b\n",
            "a: [1, 2\n",
            "a: b\n c: d\n",
        ] {
            assert_eq!(docs(bad), Err("invalid_yaml"), "{bad:?}");
        }
    }
}
