//! A profile's JSONPath selectors (RFC 9535), evaluated on customs' own tree of the body.
//!
//! `serde_json_path` validates every selector when the policy loads, and can evaluate
//! any of them, but only on a `serde_json::Value` of the whole body: about four times the
//! body's size, on top of the body and its own tree. The selectors policies use are
//! paths of names, indices, slices and wildcards (`$.content`, `$.users[*]`,
//! `$..debug`); those are evaluated here, on the tree the walk uses anyway. A selector
//! with a filter (`?`) or function keeps `serde_json_path` (see [`Selector::on_tree`]).
//!
//! The result is the same set of JSON pointers `serde_json_path` locates on the `Value`
//! (a property test compares them). That includes duplicate keys: the `Value` holds only
//! a key's last occurrence, so names, wildcards and descendants here see only that one.

use std::collections::HashSet;

use serde_json_path::JsonPath;

use super::json::{Doc, Node, unescape};
use super::records::escape;

/// A parsed selector: `serde_json_path`'s, and the same query as evaluated here when it
/// uses only the segments this module reads.
#[derive(Debug, Clone)]
pub struct Selector {
    pub path: JsonPath,
    own: Option<Vec<Segment>>,
}

impl Selector {
    /// Parses `s` as `serde_json_path` does (the policy's validation and its errors).
    pub fn parse(s: &str) -> Result<Selector, serde_json_path::ParseError> {
        let path = JsonPath::parse(s)?;
        Ok(Selector {
            path,
            own: parse(s),
        })
    }

    /// Whether it is evaluated on customs' own tree (else on a `serde_json::Value`).
    pub fn on_tree(&self) -> bool {
        self.own.is_some()
    }

    /// The pointers of every value it selects in `doc`, each appended to `prefix` and
    /// inserted in `into`. `false`, and nothing inserted, when it is not evaluated on
    /// the tree.
    pub fn locate(&self, doc: &Doc<'_>, prefix: &str, into: &mut HashSet<String>) -> bool {
        let Some(segments) = &self.own else {
            return false;
        };
        let mut nodes = vec![(doc.root, String::new())];
        for seg in segments {
            let mut next = Vec::new();
            let mut seen = HashSet::new();
            for (node, ptr) in &nodes {
                seg.apply(doc, node, ptr, &mut |n, p| {
                    // A pointer names one value (a key's last occurrence), so a value
                    // reached twice (`$[0,0]`, `$..*..*`) is carried on once.
                    if seen.insert(p.clone()) {
                        next.push((n, p));
                    }
                });
            }
            nodes = next;
        }
        for (_, p) in nodes {
            into.insert(format!("{prefix}{p}"));
        }
        true
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Child(Vec<Sel>),
    Descendant(Vec<Sel>),
}

#[derive(Debug, Clone, PartialEq)]
enum Sel {
    Name(String),
    Wildcard,
    Index(i64),
    Slice(Option<i64>, Option<i64>, i64),
}

type Out<'f> = dyn FnMut(Node, String) + 'f;

impl Segment {
    fn apply(&self, doc: &Doc<'_>, node: &Node, ptr: &str, out: &mut Out<'_>) {
        match self {
            Segment::Child(sels) => {
                for s in sels {
                    s.apply(doc, node, ptr, out);
                }
            }
            Segment::Descendant(sels) => {
                // The node, then every descendant (as the `Value` holds them), each
                // given every selector.
                let mut stack = vec![(*node, ptr.to_string())];
                while let Some((n, p)) = stack.pop() {
                    for s in sels {
                        s.apply(doc, &n, &p, out);
                    }
                    children(doc, &n, &p, &mut |c, cp| stack.push((c, cp)));
                }
            }
        }
    }
}

/// A node's children as `serde_json::Value` holds them: every element of an array; the
/// last occurrence of each key of an object.
fn children(doc: &Doc<'_>, node: &Node, ptr: &str, out: &mut Out<'_>) {
    match node {
        Node::Arr(items) => {
            for (i, v) in doc.items(*items).iter().enumerate() {
                out(v, format!("{ptr}/{i}"));
            }
        }
        Node::Obj(fields) => {
            let fields = doc.fields(*fields);
            let mut keys = HashSet::with_capacity(fields.len());
            for (k, v) in fields.iter().rev() {
                let k = doc.text(k);
                if keys.insert(k) {
                    out(v, format!("{ptr}/{}", escape(k)));
                }
            }
        }
        _ => {}
    }
}

impl Sel {
    fn apply(&self, doc: &Doc<'_>, node: &Node, ptr: &str, out: &mut Out<'_>) {
        match (self, node) {
            (Sel::Wildcard, _) => children(doc, node, ptr, out),
            (Sel::Name(name), Node::Obj(fields)) => {
                if let Some((_, v)) = doc
                    .fields(*fields)
                    .iter()
                    .rev()
                    .find(|(k, _)| doc.text(*k) == name)
                {
                    out(v, format!("{ptr}/{}", escape(name)));
                }
            }
            (Sel::Index(i), Node::Arr(items)) => {
                let items = doc.items(*items);
                let len = items.len() as i64;
                let at = if *i >= 0 { *i } else { len + *i };
                if let Some(v) = items.get(at as usize).filter(|_| (0..len).contains(&at)) {
                    out(v, format!("{ptr}/{at}"));
                }
            }
            (Sel::Slice(start, end, step), Node::Arr(items)) => {
                let items = doc.items(*items);
                for at in slice(items.len() as i64, *start, *end, *step) {
                    if let Some(v) = items.get(at as usize) {
                        out(v, format!("{ptr}/{at}"));
                    }
                }
            }
            _ => {}
        }
    }
}

/// The indices an array slice selects (RFC 9535, 2.3.4.2), in any order.
fn slice(len: i64, start: Option<i64>, end: Option<i64>, step: i64) -> Vec<i64> {
    let norm = |i: i64| if i >= 0 { i } else { len + i };
    let mut out = Vec::new();
    if step > 0 {
        let lower = norm(start.unwrap_or(0)).clamp(0, len);
        let upper = norm(end.unwrap_or(len)).clamp(0, len);
        let mut i = lower;
        while i < upper {
            out.push(i);
            i = i.saturating_add(step);
        }
    } else if step < 0 {
        let upper = norm(start.unwrap_or(len - 1)).clamp(-1, len - 1);
        let lower = norm(end.unwrap_or(-len - 1)).clamp(-1, len - 1);
        let mut i = upper;
        while lower < i {
            out.push(i);
            i = i.saturating_add(step);
        }
    }
    out
}

/// The query as segments, if it uses only names, wildcards, indices and slices (child
/// or descendant); `None` for anything else (filters, functions) or anything unusual,
/// which `serde_json_path` then evaluates. Only called on text `serde_json_path`
/// accepted, so it need not reject what that parser rejects, only never read a valid
/// query differently.
fn parse(s: &str) -> Option<Vec<Segment>> {
    let mut p = Parser {
        s: s.as_bytes(),
        at: 0,
    };
    p.eat(b'$')?;
    let mut segments = Vec::new();
    loop {
        p.blank();
        match p.peek() {
            None => return Some(segments),
            Some(b'[') => segments.push(Segment::Child(p.bracketed()?)),
            Some(b'.') => {
                p.at += 1;
                if p.peek() == Some(b'.') {
                    p.at += 1;
                    let sels = match p.peek()? {
                        b'[' => p.bracketed()?,
                        b'*' => {
                            p.at += 1;
                            vec![Sel::Wildcard]
                        }
                        _ => vec![Sel::Name(p.shorthand()?)],
                    };
                    segments.push(Segment::Descendant(sels));
                } else if p.peek() == Some(b'*') {
                    p.at += 1;
                    segments.push(Segment::Child(vec![Sel::Wildcard]));
                } else {
                    segments.push(Segment::Child(vec![Sel::Name(p.shorthand()?)]));
                }
            }
            Some(_) => return None,
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.at += 1)
    }

    /// RFC 9535's `S`: space, tab, line feed, carriage return.
    fn blank(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// `member-name-shorthand`: a letter, `_` or non-ASCII, then those or digits.
    fn shorthand(&mut self) -> Option<String> {
        let start = self.at;
        while let Some(b) = self.peek() {
            let ok = b.is_ascii_alphabetic()
                || b == b'_'
                || b >= 0x80
                || (self.at > start && b.is_ascii_digit());
            if !ok {
                break;
            }
            self.at += 1;
        }
        if self.at == start {
            return None;
        }
        String::from_utf8(self.s[start..self.at].to_vec()).ok()
    }

    /// `[` selector (`,` selector)* `]`.
    fn bracketed(&mut self) -> Option<Vec<Sel>> {
        self.eat(b'[')?;
        let mut sels = Vec::new();
        loop {
            self.blank();
            sels.push(self.selector()?);
            self.blank();
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(sels);
                }
                _ => return None,
            }
        }
    }

    fn selector(&mut self) -> Option<Sel> {
        match self.peek()? {
            b'*' => {
                self.at += 1;
                Some(Sel::Wildcard)
            }
            q @ (b'\'' | b'"') => self.string(q).map(Sel::Name),
            b'-' | b'0'..=b'9' | b':' => {
                let start = self.int();
                self.blank();
                if self.peek()? != b':' {
                    return Some(Sel::Index(start?));
                }
                self.at += 1;
                self.blank();
                let end = self.int();
                self.blank();
                let mut step = 1;
                if self.peek()? == b':' {
                    self.at += 1;
                    self.blank();
                    if let Some(s) = self.int() {
                        step = s;
                    }
                }
                Some(Sel::Slice(start, end, step))
            }
            // A filter (`?`) or anything else: left to serde_json_path.
            _ => None,
        }
    }

    /// An integer, if one is here (RFC 9535 allows no `+`, leading zero or `-0`; the
    /// text was validated already).
    fn int(&mut self) -> Option<i64> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.at]).ok()?;
        match text.parse() {
            Ok(n) => Some(n),
            Err(_) => {
                self.at = start;
                None
            }
        }
    }

    /// A quoted name (`'…'` or `"…"`), its escapes decoded.
    fn string(&mut self, quote: u8) -> Option<String> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let b = self.peek()?;
            self.at += 1;
            match b {
                // JSON's escapes, and `\'` (RFC 9535, 2.3.1.1).
                b'\\' if self.peek()? == b'\'' => {
                    self.at += 1;
                    out.push(b'\'');
                }
                b'\\' => {
                    let (c, n) = unescape(self.s, self.at)?;
                    self.at += n;
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                b if b == quote => return String::from_utf8(out).ok(),
                b => out.push(b),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::json;
    use proptest::prelude::*;

    fn ours(path: &str, body: &str) -> HashSet<String> {
        let sel = Selector::parse(path).unwrap_or_else(|e| panic!("`{path}`: {e}"));
        assert!(sel.on_tree(), "`{path}` is not evaluated on the tree");
        let doc = json::parse(body.as_bytes()).unwrap();
        let mut out = HashSet::new();
        assert!(sel.locate(&doc, "", &mut out));
        out
    }

    fn theirs(path: &str, body: &str) -> HashSet<String> {
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        JsonPath::parse(path)
            .unwrap()
            .query_located(&value)
            .iter()
            .map(|n| n.location().to_json_pointer())
            .collect()
    }

    #[test]
    fn filters_and_functions_are_left_to_serde_json_path() {
        for path in [
            "$.users[?@.kind == 'user']",
            "$[?length(@) > 1]",
            "$..[?@.a]",
        ] {
            let sel = Selector::parse(path).unwrap();
            assert!(!sel.on_tree(), "`{path}`");
            let doc = json::parse(b"{}").unwrap();
            let mut out = HashSet::new();
            assert!(!sel.locate(&doc, "", &mut out));
            assert!(out.is_empty());
        }
    }

    #[test]
    fn examples_match_serde_json_path() {
        let body = r#"{"content":{"text":"x"},"users":[{"email":"a","a/b":{"~":1}},{"email":"b"},3],
            "dup":{"x":1},"dup":{"y":2},"é":{"q":[[0,1],[2]]},"it's":1,"q\"k":2,"t\tb":3}"#;
        for path in [
            "$",
            "$.content",
            "$.users[*]",
            "$.users[*].email",
            "$..email",
            "$..*",
            "$.users[-1]",
            "$.users[0:2]",
            "$.users[::-1]",
            "$.users[5:0:-2]",
            "$['a/b']",
            "$.users[0]['a/b']['~']",
            "$.dup.x",
            "$.dup.y",
            "$..x",
            "$.é.q[*][0]",
            "$..[0]",
            "$[ 'users' , \"content\" ][ 0 , 0 ]",
            "$.users[0:0]",
            "$.users[1::0]",
            "$['\\u00e9']",
            "$.content.text.more",
            r#"$['it\'s']"#,
            r#"$["q\"k"]"#,
            r#"$['a\/b']"#,
            r#"$['t\tb']"#,
            r#"$["\uD83D\uDE00", 'x']"#,
        ] {
            assert_eq!(ours(path, body), theirs(path, body), "`{path}`");
        }
        // Not vacuous: these select something.
        assert_eq!(ours("$.dup.y", body).len(), 1);
        assert_eq!(ours("$..email", body).len(), 2);
        for escaped in [r#"$['it\'s']"#, r#"$["q\"k"]"#, r#"$['t\tb']"#] {
            assert_eq!(ours(escaped, body).len(), 1, "`{escaped}`");
        }
        assert!(
            ours("$.dup.x", body).is_empty(),
            "a key's earlier occurrence"
        );
    }

    /// A JSON document as text, keys drawn from a few names (some needing pointer
    /// escapes, some repeated within an object).
    fn doc() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("1".to_string()),
            Just("\"s\"".to_string()),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            let key = prop_oneof![
                Just("a"),
                Just("b"),
                Just("a/b"),
                Just("~"),
                Just("é"),
                Just("\\u0061")
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((key, inner), 0..5).prop_map(|v| {
                    let m: Vec<String> = v.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", m.join(","))
                }),
            ]
        })
    }

    fn path() -> impl Strategy<Value = String> {
        let seg = prop_oneof![
            Just(".a"),
            Just(".b"),
            Just(".é"),
            Just("['a/b']"),
            Just("[\"~\"]"),
            Just(".*"),
            Just("[*]"),
            Just("[0]"),
            Just("[1]"),
            Just("[-1]"),
            Just("[-3]"),
            Just("[1:]"),
            Just("[:2]"),
            Just("[::-1]"),
            Just("[-1:0:-2]"),
            Just("[0, 1, 0]"),
            Just("['a', 'b', 0]"),
            Just("..a"),
            Just("..*"),
            Just("..[0]"),
            Just("..['a/b', 1]"),
        ];
        prop::collection::vec(seg, 0..4).prop_map(|v| format!("${}", v.concat()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The same pointers as serde_json_path on serde_json's `Value`, whatever the
        /// document and query.
        #[test]
        fn selects_what_serde_json_path_selects(body in doc(), path in path()) {
            prop_assert_eq!(ours(&path, &body), theirs(&path, &body), "`{}` on {}", path, body);
        }
    }
}
