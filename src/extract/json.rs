//! A JSON tree that keeps every occurrence of a duplicated key (serde_json's `Value`
//! keeps only the last, so a second `"email"` could hide the first) and borrows strings
//! from the body where it can.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    Null,
    Bool(bool),
    Num(Num),
    Str(Cow<'a, str>),
    /// An array: its elements are `Doc::items(span)`.
    Arr(Span),
    /// An object: its members, in order and duplicates included, are `Doc::fields(span)`.
    Obj(Span),
}

/// Where a container's children are in its document's arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    start: usize,
    len: usize,
}

impl Span {
    pub fn len(self) -> usize {
        self.len
    }
    pub fn is_empty(self) -> bool {
        self.len == 0
    }
}

/// A parsed document: the root value, and two arenas holding every array element and
/// every object member (one allocation each for the whole document, instead of one per
/// container; dropping it frees two buffers).
#[derive(Debug, Clone, PartialEq)]
pub struct Doc<'a> {
    pub root: Node<'a>,
    items: Vec<Node<'a>>,
    fields: Vec<(Cow<'a, str>, Node<'a>)>,
}

impl<'a> Doc<'a> {
    /// One object with these members (form fields, headers, query pairs).
    pub fn object(fields: Vec<(Cow<'a, str>, Node<'a>)>) -> Self {
        Doc {
            root: Node::Obj(Span {
                start: 0,
                len: fields.len(),
            }),
            items: Vec::new(),
            fields,
        }
    }

    /// The elements of an array.
    pub fn items(&self, span: Span) -> &[Node<'a>] {
        self.items
            .get(span.start..span.start.saturating_add(span.len))
            .unwrap_or(&[])
    }

    /// The members of an object.
    pub fn fields(&self, span: Span) -> &[(Cow<'a, str>, Node<'a>)] {
        self.fields
            .get(span.start..span.start.saturating_add(span.len))
            .unwrap_or(&[])
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    U(u64),
    I(i64),
    F(f64),
}

impl Num {
    /// The digits of an integer (phone numbers are sometimes sent as numbers).
    pub fn integer_text(self) -> Option<String> {
        match self {
            Num::U(u) => Some(u.to_string()),
            Num::I(i) => Some(i.to_string()),
            Num::F(_) => None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JsonError {
    #[error("nesting deeper than the parser's limit of 128")]
    TooDeep,
    #[error("invalid JSON at line {line} column {column}")]
    Invalid { line: usize, column: usize },
}

/// Parses one complete JSON document (any top-level value). Trailing non-whitespace is
/// an error; nesting beyond serde_json's limit (128) is [`JsonError::TooDeep`].
///
/// The body is checked for UTF-8 once, up front, so the tokenizer does not re-check
/// every string (serde_json's `from_str` path); a body that is not UTF-8 is parsed
/// byte-wise so the error is the same one a byte parser reports.
pub fn parse(bytes: &[u8]) -> Result<Doc<'_>, JsonError> {
    // Arenas sized for typical documents (a member every ~32 bytes, an element every
    // ~64; a member is 56 bytes, an element 32), grown as needed. Large reservations
    // are mapped lazily: untouched capacity costs address space, not memory.
    let mut b = Builder {
        pending_items: Vec::new(),
        pending_fields: Vec::new(),
        items: Vec::with_capacity(bytes.len() / 64),
        fields: Vec::with_capacity(bytes.len() / 32),
    };
    let root = match std::str::from_utf8(bytes) {
        Ok(text) => parse_with(serde_json::Deserializer::from_str(text), &mut b)?,
        Err(_) => parse_with(serde_json::Deserializer::from_slice(bytes), &mut b)?,
    };
    Ok(Doc {
        root,
        items: b.items,
        fields: b.fields,
    })
}

/// One whole document from `de`, nothing after it but whitespace.
fn parse_with<'a, R: serde_json::de::Read<'a>>(
    mut de: serde_json::Deserializer<R>,
    b: &mut Builder<'a>,
) -> Result<Node<'a>, JsonError> {
    let root = NodeSeed { b }.deserialize(&mut de).map_err(map_err)?;
    de.end().map_err(map_err)?;
    Ok(root)
}

fn map_err(e: serde_json::Error) -> JsonError {
    if e.to_string().starts_with("recursion limit exceeded") {
        JsonError::TooDeep
    } else {
        JsonError::Invalid {
            line: e.line(),
            column: e.column(),
        }
    }
}

/// The document being built. Children of the containers still open wait on the pending
/// stacks; when a container closes they move, contiguous, into the arenas.
struct Builder<'a> {
    pending_items: Vec<Node<'a>>,
    pending_fields: Vec<(Cow<'a, str>, Node<'a>)>,
    items: Vec<Node<'a>>,
    fields: Vec<(Cow<'a, str>, Node<'a>)>,
}

struct NodeSeed<'s, 'a> {
    b: &'s mut Builder<'a>,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, 'de> {
    type Value = Node<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_, 'de> {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Node::Num(Num::I(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Node::Num(Num::U(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Node::Num(Num::F(v)))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Node::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Node::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Node::Str(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Node::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mark = self.b.pending_items.len();
        while let Some(x) = seq.next_element_seed(NodeSeed { b: &mut *self.b })? {
            self.b.pending_items.push(x);
        }
        let start = self.b.items.len();
        let b = &mut *self.b;
        b.items.extend(b.pending_items.drain(mark..));
        Ok(Node::Arr(Span {
            start,
            len: b.items.len() - start,
        }))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mark = self.b.pending_fields.len();
        while let Some(k) = map.next_key_seed(KeySeed)? {
            let val = map.next_value_seed(NodeSeed { b: &mut *self.b })?;
            self.b.pending_fields.push((k, val));
        }
        let start = self.b.fields.len();
        let b = &mut *self.b;
        b.fields.extend(b.pending_fields.drain(mark..));
        Ok(Node::Obj(Span {
            start,
            len: b.fields.len() - start,
        }))
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_duplicate_keys() {
        let d = parse(br#"{"email":"a@example.org","email":"b@example.org"}"#).unwrap();
        let Node::Obj(f) = d.root else { panic!() };
        let f = d.fields(f);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].1, Node::Str("a@example.org".into()));
    }

    #[test]
    fn scalars_and_errors() {
        assert_eq!(parse(b" 42 ").unwrap().root, Node::Num(Num::U(42)));
        assert_eq!(parse(br#""x\u0041""#).unwrap().root, Node::Str("xA".into()));
        assert!(matches!(
            parse(b"{\"a\":1} x"),
            Err(JsonError::Invalid { .. })
        ));
        assert!(matches!(parse(b"{\"a\":"), Err(JsonError::Invalid { .. })));
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(parse(deep.as_bytes()), Err(JsonError::TooDeep));
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn bytes_that_are_not_utf8_are_invalid_json() {
        // UTF-8 is checked once for the whole body; a body that fails it is parsed
        // byte-wise and reports where the JSON went wrong.
        assert_eq!(
            parse(b"{\"a\":\"x\xff\"}"),
            Err(JsonError::Invalid { line: 1, column: 8 })
        );
        assert!(matches!(parse(b"\xff"), Err(JsonError::Invalid { .. })));
    }

    #[test]
    fn containers_keep_order_and_nesting() {
        let d = parse(br#"{"a":[1,{"b":[],"c":{}},[2,3]],"d":{"e":"f"},"a":null}"#).unwrap();
        let Node::Obj(f) = d.root else { panic!() };
        let f = d.fields(f);
        let keys: Vec<&str> = f.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["a", "d", "a"]);
        assert_eq!(f[2].1, Node::Null);
        let Node::Arr(items) = f[0].1 else { panic!() };
        let items = d.items(items);
        assert_eq!(items.len(), 3);
        assert_eq!(items[0], Node::Num(Num::U(1)));
        let Node::Arr(last) = items[2] else { panic!() };
        assert_eq!(d.items(last), [Node::Num(Num::U(2)), Node::Num(Num::U(3))]);
        let Node::Obj(inner) = items[1] else { panic!() };
        let inner = d.fields(inner);
        assert_eq!(inner[0].0, "b");
        assert!(matches!(inner[0].1, Node::Arr(s) if s.is_empty()));
        assert_eq!(inner[1].0, "c");
        assert!(matches!(inner[1].1, Node::Obj(s) if s.is_empty()));
        let Node::Obj(e) = f[1].1 else { panic!() };
        assert_eq!(d.fields(e), [("e".into(), Node::Str("f".into()))]);
    }
}
