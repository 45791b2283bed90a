//! A JSON tree that keeps every occurrence of a duplicated key (serde_json's `Value`
//! keeps only the last, so a second `"email"` could hide the first) and borrows strings
//! from the body where it can.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value. Strings and containers are small handles into their [`Doc`], whose
/// arenas hold array elements in 12 bytes and object members in 16 (see [`Member`]), so
/// a batch of records parses into a tree of about half its text's size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Num(Num),
    /// A string: its text is `Doc::text(t)`.
    Str(Text),
    /// An array: its elements are `Doc::items(span)`.
    Arr(Span),
    /// An object: its members, in order and duplicates included, are `Doc::fields(span)`.
    Obj(Span),
}

/// Where a container's children are in its document's arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    start: u32,
    len: u32,
}

impl Span {
    pub fn len(self) -> usize {
        self.len as usize
    }
    pub fn is_empty(self) -> bool {
        self.len == 0
    }
}

/// Where a string (a value or a key) is: a slice of the parsed text when it had no
/// escapes, else a slice of the document's own buffer of decoded strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Text {
    /// The offset; the top bit set means the document's own buffer.
    at: u32,
    len: u32,
}

const OWN: u32 = 1 << 31;

/// The largest document the tree can address, 256 MiB: a member keeps its key's length
/// in 28 bits (the other 4 are its value's kind). Bodies are normally capped far below it
/// by `max_body_bytes` (8 MiB by default); a policy that allows more still gets a larger
/// JSON document refused (`limit_exceeded`), never truncated.
pub const MAX_DOC_BYTES: usize = (1 << LEN_BITS) - 1;

/// Bits of a member's key length ([`Member`]).
const LEN_BITS: u32 = 28;
const LEN_MASK: u32 = (1 << LEN_BITS) - 1;

/// A node as the arenas store it: its kind and two words (a `Node` is 16 bytes, aligned
/// for its `u64`; this is 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packed {
    kind: u32,
    a: u32,
    b: u32,
}

const K_NULL: u32 = 0;
const K_FALSE: u32 = 1;
const K_TRUE: u32 = 2;
const K_U64: u32 = 3;
const K_I64: u32 = 4;
const K_F64: u32 = 5;
const K_STR: u32 = 6;
const K_ARR: u32 = 7;
const K_OBJ: u32 = 8;

impl Packed {
    #[inline]
    fn pack(n: Node) -> Packed {
        let wide = |kind, v: u64| Packed {
            kind,
            a: v as u32,
            b: (v >> 32) as u32,
        };
        let two = |kind, a, b| Packed { kind, a, b };
        match n {
            Node::Null => two(K_NULL, 0, 0),
            Node::Bool(false) => two(K_FALSE, 0, 0),
            Node::Bool(true) => two(K_TRUE, 0, 0),
            Node::Num(Num::U(u)) => wide(K_U64, u),
            Node::Num(Num::I(i)) => wide(K_I64, i as u64),
            Node::Num(Num::F(f)) => wide(K_F64, f.to_bits()),
            Node::Str(t) => two(K_STR, t.at, t.len),
            Node::Arr(s) => two(K_ARR, s.start, s.len),
            Node::Obj(s) => two(K_OBJ, s.start, s.len),
        }
    }

    #[inline]
    fn node(self) -> Node {
        let Packed { kind, a, b } = self;
        let wide = u64::from(a) | u64::from(b) << 32;
        match kind {
            K_FALSE => Node::Bool(false),
            K_TRUE => Node::Bool(true),
            K_U64 => Node::Num(Num::U(wide)),
            K_I64 => Node::Num(Num::I(wide as i64)),
            K_F64 => Node::Num(Num::F(f64::from_bits(wide))),
            K_STR => Node::Str(Text { at: a, len: b }),
            K_ARR => Node::Arr(Span { start: a, len: b }),
            K_OBJ => Node::Obj(Span { start: a, len: b }),
            // Only `pack` writes kinds: this is `K_NULL`.
            _ => Node::Null,
        }
    }
}

/// An object member as its arena stores it, 16 bytes (a `(Text, Node)` is 24): the
/// key's offset; the key's length (28 bits, which [`MAX_DOC_BYTES`] bounds) and the
/// value's kind (4 bits) in one word; the value's two words. Objects are most of a
/// batch's tree, and the walk reads every member: a third less to write and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    key_at: u32,
    len_kind: u32,
    a: u32,
    b: u32,
}

impl Member {
    #[inline]
    fn new(key: Text, value: Node) -> Member {
        Member::of(key, Packed::pack(value))
    }

    #[inline]
    fn of(key: Text, Packed { kind, a, b }: Packed) -> Member {
        debug_assert!(key.len <= LEN_MASK);
        Member {
            key_at: key.at,
            len_kind: key.len & LEN_MASK | kind << LEN_BITS,
            a,
            b,
        }
    }

    #[inline]
    pub fn key(self) -> Text {
        Text {
            at: self.key_at,
            len: self.len_kind & LEN_MASK,
        }
    }

    /// A null, boolean or number: nothing below it, nothing to read but its value.
    #[inline]
    pub fn is_scalar(self) -> bool {
        matches!(
            self.len_kind >> LEN_BITS,
            K_NULL | K_FALSE | K_TRUE | K_U64 | K_I64 | K_F64
        )
    }

    #[inline]
    pub fn value(self) -> Node {
        Packed {
            kind: self.len_kind >> LEN_BITS,
            a: self.a,
            b: self.b,
        }
        .node()
    }
}

/// An array's elements, as [`Doc::items`] gives them.
#[derive(Debug, Clone, Copy)]
pub struct Items<'d>(&'d [Packed]);

impl<'d> Items<'d> {
    pub fn len(self) -> usize {
        self.0.len()
    }
    pub fn is_empty(self) -> bool {
        self.0.is_empty()
    }
    pub fn get(self, i: usize) -> Option<Node> {
        self.0.get(i).map(|p| p.node())
    }
    pub fn iter(self) -> impl DoubleEndedIterator<Item = Node> + ExactSizeIterator + 'd {
        self.0.iter().map(|p| p.node())
    }
}

/// An object's members, in order and duplicates included, as [`Doc::fields`] gives them.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'d>(&'d [Member]);

impl<'d> Fields<'d> {
    pub fn len(self) -> usize {
        self.0.len()
    }
    pub fn is_empty(self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(self) -> impl DoubleEndedIterator<Item = (Text, Node)> + ExactSizeIterator + 'd {
        self.0.iter().map(|m| (m.key(), m.value()))
    }
    /// The members as stored: their keys and values are read one at a time.
    pub fn members(self) -> &'d [Member] {
        self.0
    }
}

/// A parsed document: the root value, the text it was parsed from, the strings that had
/// to be decoded, and two arenas holding every array element and every object member
/// (one allocation each for the whole document, instead of one per container).
#[derive(Debug, Clone, PartialEq)]
pub struct Doc<'a> {
    pub root: Node,
    src: &'a str,
    own: String,
    items: Vec<Packed>,
    fields: Vec<Member>,
}

impl<'a> Doc<'a> {
    /// One object whose members are these strings (form fields, headers, query pairs).
    pub fn object<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, JsonError> {
        let mut own = String::new();
        let mut fields = Vec::new();
        for (k, v) in pairs {
            let k = own_text(&mut own, k.as_ref())?;
            let v = own_text(&mut own, v.as_ref())?;
            fields.push(Member::new(k, Node::Str(v)));
        }
        Ok(Doc {
            root: Node::Obj(Span {
                start: 0,
                len: u32::try_from(fields.len()).map_err(|_| JsonError::TooLarge)?,
            }),
            src: "",
            own,
            items: Vec::new(),
            fields,
        })
    }

    /// The elements of an array.
    pub fn items(&self, span: Span) -> Items<'_> {
        let start = span.start as usize;
        Items(
            self.items
                .get(start..start + span.len as usize)
                .unwrap_or(&[]),
        )
    }

    /// The members of an object.
    pub fn fields(&self, span: Span) -> Fields<'_> {
        let start = span.start as usize;
        Fields(
            self.fields
                .get(start..start + span.len as usize)
                .unwrap_or(&[]),
        )
    }

    /// The text of a string or key.
    pub fn text(&self, t: Text) -> &str {
        text_in(self.src, &self.own, t)
    }
}

/// Appends `s` to a document's own buffer.
fn own_text(own: &mut String, s: &str) -> Result<Text, JsonError> {
    let at = own.len();
    if at + s.len() > MAX_DOC_BYTES {
        return Err(JsonError::TooLarge);
    }
    own.push_str(s);
    Ok(Text {
        at: at as u32 | OWN,
        len: s.len() as u32,
    })
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
    /// The number as written in decimal (`52.52`, `-7`): coordinates are fractions.
    pub fn decimal_text(self) -> String {
        match self {
            Num::U(u) => u.to_string(),
            Num::I(i) => i.to_string(),
            Num::F(f) => f.to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JsonError {
    #[error("nesting deeper than the parser's limit of 128")]
    TooDeep,
    #[error("invalid JSON at line {line} column {column}")]
    Invalid { line: usize, column: usize },
    #[error("a document larger than {MAX_DOC_BYTES} bytes")]
    TooLarge,
}

/// Documents from this size up get their arenas sized by counting separators first:
/// no reallocation (which briefly holds the old and the new buffer) while parsing.
const COUNT_FROM: usize = 64 * 1024;

/// Parses one complete JSON document (any top-level value). Trailing non-whitespace is
/// an error; nesting beyond serde_json's limit (128) is [`JsonError::TooDeep`].
///
/// The body is checked for UTF-8 once, up front, so the tokenizer does not re-check
/// every string (serde_json's `from_str` path); a body that is not UTF-8 is parsed
/// byte-wise so the error is the same one a byte parser reports.
pub fn parse(bytes: &[u8]) -> Result<Doc<'_>, JsonError> {
    match read(bytes, Reader::ScanFirst, usize::MAX)? {
        Some(doc) => Ok(doc),
        // No tree is over an unbounded floor.
        None => Err(JsonError::TooLarge),
    }
}

/// [`parse`], unless the tree outgrows the text: `Ok(None)` as soon as the tree would take
/// more bytes than the text read so far and more than `floor`. Bodies of records make
/// trees of about 0.6x their text all along; many tiny values, up to 12x, so such a scan
/// stops early, holding little (the tree's arenas count, and the room of the containers
/// still open, checked when a container closes and before a pending stack doubles).
pub fn parse_within(bytes: &[u8], floor: usize) -> Result<Option<Doc<'_>>, JsonError> {
    read(bytes, Reader::ScanFirst, floor)
}

/// Who reads a document: the scan, falling back to serde_json ([`parse`]), or serde_json
/// alone (what the scan is compared with).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    ScanFirst,
    SerdeJson,
}

fn parse_as(bytes: &[u8], reader: Reader) -> Result<Doc<'_>, JsonError> {
    read(bytes, reader, usize::MAX)?.ok_or(JsonError::TooLarge)
}

fn read(bytes: &[u8], reader: Reader, floor: usize) -> Result<Option<Doc<'_>>, JsonError> {
    if bytes.len() > MAX_DOC_BYTES {
        return Err(JsonError::TooLarge);
    }
    // Every member has a `:` and every element but an array's first follows a `,`, so
    // counting them bounds the arenas (strings holding them only over-reserve, and
    // capacity that is never written is never paged in). Small documents guess instead
    // (a member every ~24 bytes, an element every ~48) and grow if they must.
    // A tree that would outgrow its text (many tiny values) is not reserved for: it grows
    // until it does, and is dropped then. The counts overstate trees (separators in
    // strings count), hence the margin.
    let (members, elements) = match (bytes.len() >= COUNT_FROM).then(|| separators(bytes)) {
        Some((m, e))
            if size_of::<Member>() * m + size_of::<Packed>() * e
                <= floor.max(bytes.len()).saturating_add(bytes.len() / 4) =>
        {
            (m, e)
        }
        Some(_) => (1024, 1024),
        None => (bytes.len() / 24, bytes.len() / 48),
    };
    let mut b = Builder {
        src: "",
        own: String::new(),
        pending_items: Vec::with_capacity(32),
        // Only serde_json's reading (when the scan leaves a document to it) uses it.
        pending_fields: Vec::new(),
        pending_members: Vec::with_capacity(64),
        items: Vec::with_capacity(elements),
        fields: Vec::with_capacity(members),
        floor,
        over: false,
    };
    let root = match std::str::from_utf8(bytes) {
        Ok(text) => {
            b.src = text;
            match (reader == Reader::ScanFirst)
                .then(|| scan(text, &mut b))
                .flatten()
            {
                Some(root) => root,
                None if b.over => return Ok(None),
                None => {
                    // Not for the scan (see `scan`): serde_json reads it from scratch.
                    b.own.clear();
                    b.items.clear();
                    b.fields.clear();
                    b.pending_items.clear();
                    b.pending_fields.clear();
                    b.pending_members.clear();
                    parse_with(serde_json::Deserializer::from_str(text), &mut b)?
                }
            }
        }
        // Not UTF-8: strings are copied (the parse fails at the first bad byte anyway).
        Err(_) => parse_with(serde_json::Deserializer::from_slice(bytes), &mut b)?,
    };
    Ok(Some(Doc {
        root,
        src: b.src,
        own: b.own,
        items: b.items,
        fields: b.fields,
    }))
}

/// The tree, read by a scan written for it: the tokens go straight into the arenas,
/// without serde's visitor calls for every value and key. It reads only valid JSON, as
/// serde_json does: anything else (an error, an integer past u64::MAX, nesting at
/// serde_json's limit, a lone surrogate) returns `None`, and [`parse`] has serde_json
/// read the text instead, so what is accepted, the tree and every error are serde_json's.
/// Tests and a fuzz target compare the two readings ([`check_scan`]).
fn scan<'a>(text: &'a str, b: &mut Builder<'a>) -> Option<Node> {
    let mut s = Scan {
        src: text,
        s: text.as_bytes(),
        i: 0,
        depth: 0,
    };
    s.value(b)?;
    s.ws();
    if s.i != s.s.len() {
        return None;
    }
    b.pending_items.pop().map(Packed::node)
}

/// A scalar as [`stream`] hands it over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar<'s> {
    Null,
    Bool(bool),
    Num(Num),
    Str(&'s str),
}

/// What [`stream`] hands its reader, in document order: containers opening and
/// closing, each member's key before its value, and scalars. An error stops the reading.
pub trait Events {
    type Error;
    fn open(&mut self, object: bool) -> Result<(), Self::Error>;
    fn key(&mut self, key: &str) -> Result<(), Self::Error>;
    fn scalar(&mut self, value: Scalar<'_>) -> Result<(), Self::Error>;
    fn close(&mut self) -> Result<(), Self::Error>;
}

/// Reads `text` as one JSON document with the scan, handing its tokens to `ev` instead
/// of building a tree: what it holds is the stack of open containers and one string
/// being decoded. `Ok(false)` when the scan leaves the document to serde_json (see
/// [`scan`]: an error, an integer past u64::MAX, deep nesting, a lone surrogate): the
/// events so far are then to be thrown away and the document read by [`parse`], whose
/// tree and errors are serde_json's.
pub fn stream<E: Events>(text: &str, ev: &mut E) -> Result<bool, E::Error> {
    if text.len() > MAX_DOC_BYTES {
        return Ok(false);
    }
    let mut s = Scan {
        src: text,
        s: text.as_bytes(),
        i: 0,
        depth: 0,
    };
    let mut scratch = String::new();
    if s.value_ev(ev, &mut scratch)?.is_none() {
        return Ok(false);
    }
    s.ws();
    Ok(s.i == s.s.len())
}

/// Whether the scan reads `bytes` as one whole JSON document (`false` also for the few
/// documents it leaves to serde_json), holding no tree.
pub fn scans(bytes: &[u8]) -> bool {
    struct Nothing;
    impl Events for Nothing {
        type Error = std::convert::Infallible;
        fn open(&mut self, _: bool) -> Result<(), Self::Error> {
            Ok(())
        }
        fn key(&mut self, _: &str) -> Result<(), Self::Error> {
            Ok(())
        }
        fn scalar(&mut self, _: Scalar<'_>) -> Result<(), Self::Error> {
            Ok(())
        }
        fn close(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }
    std::str::from_utf8(bytes).is_ok_and(|text| stream(text, &mut Nothing).unwrap_or(false))
}

/// The text of a string or key: a slice of the parsed text `src`, or of `own`, the
/// buffer its escapes were decoded into. Texts are only made by this module, at char
/// boundaries of these buffers.
#[inline]
fn text_in<'s>(src: &'s str, own: &'s str, t: Text) -> &'s str {
    let (buf, at) = if t.at & OWN != 0 {
        (own, (t.at & !OWN) as usize)
    } else {
        (src, t.at as usize)
    };
    buf.get(at..at + t.len as usize).unwrap_or_default()
}

/// `Some` of an `Option`, else the scan's "not for me" (`Ok(None)`).
macro_rules! or_leave {
    ($e:expr) => {
        match $e {
            Some(v) => v,
            None => return Ok(None),
        }
    };
}

impl Scan<'_> {
    /// One value, as events ([`stream`]). `Ok(None)`: not for the scan.
    fn value_ev<E: Events>(
        &mut self,
        ev: &mut E,
        scratch: &mut String,
    ) -> Result<Option<()>, E::Error> {
        self.ws();
        let value = match or_leave!(self.peek()) {
            b'"' => {
                scratch.clear();
                let t = or_leave!(self.string_into(scratch));
                Scalar::Str(text_in(self.src, scratch, t))
            }
            b'{' => return self.object_ev(ev, scratch),
            b'[' => return self.array_ev(ev, scratch),
            b't' => {
                or_leave!(self.word(b"true", K_TRUE));
                Scalar::Bool(true)
            }
            b'f' => {
                or_leave!(self.word(b"false", K_FALSE));
                Scalar::Bool(false)
            }
            b'n' => {
                or_leave!(self.word(b"null", K_NULL));
                Scalar::Null
            }
            b'-' | b'0'..=b'9' => match or_leave!(self.number()) {
                Node::Num(n) => Scalar::Num(n),
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        ev.scalar(value)?;
        Ok(Some(()))
    }

    fn array_ev<E: Events>(
        &mut self,
        ev: &mut E,
        scratch: &mut String,
    ) -> Result<Option<()>, E::Error> {
        or_leave!(self.open());
        ev.open(false)?;
        self.ws();
        if or_leave!(self.peek()) == b']' {
            self.i += 1;
        } else {
            loop {
                or_leave!(self.value_ev(ev, scratch)?);
                if or_leave!(self.closes(b']')) {
                    break;
                }
            }
        }
        self.depth -= 1;
        ev.close()?;
        Ok(Some(()))
    }

    fn object_ev<E: Events>(
        &mut self,
        ev: &mut E,
        scratch: &mut String,
    ) -> Result<Option<()>, E::Error> {
        or_leave!(self.open());
        ev.open(true)?;
        self.ws();
        if or_leave!(self.peek()) == b'}' {
            self.i += 1;
        } else {
            loop {
                self.ws();
                if or_leave!(self.peek()) != b'"' {
                    return Ok(None);
                }
                scratch.clear();
                let k = or_leave!(self.string_into(scratch));
                ev.key(text_in(self.src, scratch, k))?;
                self.ws();
                if or_leave!(self.peek()) != b':' {
                    return Ok(None);
                }
                self.i += 1;
                or_leave!(self.value_ev(ev, scratch)?);
                if or_leave!(self.closes(b'}')) {
                    break;
                }
            }
        }
        self.depth -= 1;
        ev.close()?;
        Ok(Some(()))
    }
}

/// Containers open at once that the scan reads: serde_json refuses the 128th (its
/// recursion limit), which the scan leaves to it.
const SCAN_NESTING: u32 = 127;

/// Bytes that end a run of plain string text: the quote, a backslash, control chars.
const STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Where the string text from `at` stops: the first quote, backslash or control char.
/// Eight bytes at a time (the bit tricks find a zero byte, or one below 0x20, in a
/// word; only the first hit is exact, which is the one taken), then byte by byte.
fn stop(s: &[u8], mut at: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(word) = s.get(at..at + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let v = u64::from_le_bytes(w);
        let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
        let hits = zero(v ^ (ONES * u64::from(b'"')))
            | zero(v ^ (ONES * u64::from(b'\\')))
            | (v.wrapping_sub(ONES * 0x20) & !v & HIGH);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    while !STRING_STOP[usize::from(*s.get(at)?)] {
        at += 1;
    }
    Some(at)
}

struct Scan<'a> {
    src: &'a str,
    s: &'a [u8],
    i: usize,
    depth: u32,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    /// One value, pushed onto `b.pending_items` (where its container collects it).
    /// Values are not returned: a 16-byte node written field by field and read back
    /// whole right after the call stalls the load (store forwarding fails), which
    /// `perf annotate` showed as the scan's hottest instructions.
    fn value(&mut self, b: &mut Builder<'a>) -> Option<()> {
        self.ws();
        let node = match self.peek()? {
            b'"' => {
                let t = self.string(b)?;
                Packed {
                    kind: K_STR,
                    a: t.at,
                    b: t.len,
                }
            }
            b'{' => return self.object(b),
            b'[' => return self.array(b),
            b't' => self.word(b"true", K_TRUE)?,
            b'f' => self.word(b"false", K_FALSE)?,
            b'n' => self.word(b"null", K_NULL)?,
            b'-' | b'0'..=b'9' => Packed::pack(self.number()?),
            _ => return None,
        };
        if b.full_items_over(self.i) {
            return None;
        }
        b.pending_items.push(node);
        Some(())
    }

    fn word(&mut self, w: &[u8], kind: u32) -> Option<Packed> {
        if self.s.get(self.i..self.i + w.len())? != w {
            return None;
        }
        self.i += w.len();
        Some(Packed { kind, a: 0, b: 0 })
    }

    fn open(&mut self) -> Option<()> {
        self.i += 1;
        self.depth += 1;
        (self.depth <= SCAN_NESTING).then_some(())
    }

    /// After an element or member: `,` (another follows: `false`) or `close` (the
    /// container ends: `true`).
    fn closes(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let c = self.peek()?;
        if c != b',' && c != close {
            return None;
        }
        self.i += 1;
        Some(c == close)
    }

    fn array(&mut self, b: &mut Builder<'a>) -> Option<()> {
        self.open()?;
        let mark = b.pending_items.len();
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
        } else {
            loop {
                self.value(b)?;
                if self.closes(b']')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        let start = b.items.len();
        b.items.extend(b.pending_items.drain(mark..));
        if b.full_items_over(self.i) {
            return None;
        }
        b.pending_items.push(Packed {
            kind: K_ARR,
            a: start as u32,
            b: (b.items.len() - start) as u32,
        });
        if b.over_budget(self.i, 0) {
            return None;
        }
        Some(())
    }

    fn object(&mut self, b: &mut Builder<'a>) -> Option<()> {
        self.open()?;
        let mark = b.pending_members.len();
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
        } else {
            loop {
                self.ws();
                if self.peek()? != b'"' {
                    return None;
                }
                let k = self.string(b)?;
                self.ws();
                if self.peek()? != b':' {
                    return None;
                }
                self.i += 1;
                self.value(b)?;
                let v = b.pending_items.pop()?;
                if b.full_members_over(self.i) {
                    return None;
                }
                b.pending_members.push(Member::of(k, v));
                if self.closes(b'}')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        let start = b.fields.len();
        b.fields
            .extend_from_slice(b.pending_members.get(mark..).unwrap_or_default());
        b.pending_members.truncate(mark);
        if b.full_items_over(self.i) {
            return None;
        }
        b.pending_items.push(Packed {
            kind: K_OBJ,
            a: start as u32,
            b: (b.fields.len() - start) as u32,
        });
        if b.over_budget(self.i, 0) {
            return None;
        }
        Some(())
    }

    /// A string (at its opening quote): a slice of the text, or decoded into the
    /// document's own buffer when it has escapes. Inlined: returned from a call, the
    /// 12-byte `Option<Text>` goes through memory, written in parts and read whole, and
    /// that load stalled (see `value`).
    #[inline(always)]
    fn string(&mut self, b: &mut Builder<'a>) -> Option<Text> {
        self.string_into(&mut b.own)
    }

    /// [`Scan::string`], decoding escapes into `own`.
    #[inline(always)]
    fn string_into(&mut self, own: &mut String) -> Option<Text> {
        let start = self.i + 1;
        let j = stop(self.s, start)?;
        match self.s[j] {
            b'"' => {
                self.i = j + 1;
                Some(Text {
                    at: start as u32,
                    len: (j - start) as u32,
                })
            }
            b'\\' => self.escaped(own, start, j),
            _ => None,
        }
    }

    /// The rest of a string from its first escape at `j`, decoded.
    fn escaped(&mut self, own: &mut String, start: usize, mut j: usize) -> Option<Text> {
        let at = own.len();
        // The plain run before each escape is a slice of the text (escapes and quotes
        // are ASCII, so the run's ends are char boundaries).
        let mut run = start;
        loop {
            j = stop(self.s, j)?;
            let c = self.s[j];
            own.push_str(self.src.get(run..j)?);
            match c {
                b'"' => break,
                b'\\' => {
                    // Anything but a valid escape (a lone surrogate included) is left
                    // to serde_json.
                    let (ch, n) = unescape(self.s, j + 1)?;
                    j += 1 + n;
                    own.push(ch);
                    run = j;
                }
                _ => return None,
            }
        }
        self.i = j + 1;
        let len = own.len() - at;
        // Decoding never lengthens a string, so the buffer stays within the text's size,
        // which `parse` bounded by MAX_DOC_BYTES.
        Some(Text {
            at: at as u32 | OWN,
            len: len as u32,
        })
    }

    /// A number, as serde_json reads it: an integer is `U` (or `I` when negative; `-0`
    /// and below i64::MIN are `F`), a fraction or exponent makes `F` (read by serde_json
    /// itself, so the same float). An integer past u64::MAX, which serde_json reads as
    /// a float its own way, is left to it.
    fn number(&mut self) -> Option<Node> {
        let start = self.i;
        let neg = self.peek() == Some(b'-');
        if neg {
            self.i += 1;
        }
        let int = self.i;
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        let int_end = self.i;
        let mut float = false;
        if self.peek() == Some(b'.') {
            float = true;
            self.i += 1;
            let d = self.i;
            self.digits();
            if self.i == d {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            float = true;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            let d = self.i;
            self.digits();
            if self.i == d {
                return None;
            }
        }
        if float {
            let f: f64 = serde_json::from_str(self.src.get(start..self.i)?).ok()?;
            return Some(Node::Num(Num::F(f)));
        }
        let mut n: u64 = 0;
        for &c in &self.s[int..int_end] {
            n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
        }
        if !neg {
            return Some(Node::Num(Num::U(n)));
        }
        // As serde_json: `-0` and anything below i64::MIN are floats.
        let neg = (n as i64).wrapping_neg();
        Some(Node::Num(if neg >= 0 {
            Num::F(-(n as f64))
        } else {
            Num::I(neg)
        }))
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }
}

/// The character the escape at `s[at..]` (just after its backslash) stands for, and how
/// many bytes it takes: JSON's escapes, which JSONPath's string literals share (they add
/// `\'`), a `\u` surrogate pair taking both halves. `None` for anything else, a lone
/// surrogate included.
pub(crate) fn unescape(s: &[u8], at: usize) -> Option<(char, usize)> {
    let ch = match *s.get(at)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let hi = hex4(s.get(at + 1..at + 5)?)?;
            if !(0xD800..0xDC00).contains(&hi) {
                return Some((char::from_u32(hi)?, 5));
            }
            if s.get(at + 5..at + 7)? != b"\\u" {
                return None;
            }
            let lo = hex4(s.get(at + 7..at + 11)?)?;
            if !(0xDC00..0xE000).contains(&lo) {
                return None;
            }
            return Some((
                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?,
                11,
            ));
        }
        _ => return None,
    };
    Some((ch, 1))
}

/// Four hex digits (either case).
fn hex4(d: &[u8]) -> Option<u32> {
    d.iter().try_fold(0u32, |n, &c| {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        Some(n * 16 + u32::from(v))
    })
}

/// For tests and the fuzz target: reads `bytes` with [`parse`] and with serde_json
/// alone, and panics unless both give the same tree or the same error. Returns whether
/// the scan itself read the document (else serde_json did).
#[doc(hidden)]
pub fn check_scan(bytes: &[u8]) -> bool {
    let ours = parse(bytes);
    let theirs = parse_as(bytes, Reader::SerdeJson);
    assert_eq!(
        ours, theirs,
        "the scan read a document otherwise than serde_json"
    );
    std::str::from_utf8(bytes).is_ok_and(|text| {
        let mut b = Builder {
            src: text,
            own: String::new(),
            pending_items: Vec::new(),
            pending_fields: Vec::new(),
            pending_members: Vec::new(),
            items: Vec::new(),
            fields: Vec::new(),
            floor: usize::MAX,
            over: false,
        };
        bytes.len() <= MAX_DOC_BYTES && scan(text, &mut b).is_some()
    })
}

/// How many `:` and how many `,` or `[` a text holds. Counted in blocks of 127 bytes
/// into byte-wide counters, which the compiler turns into vector compares.
fn separators(bytes: &[u8]) -> (usize, usize) {
    let (mut colons, mut commas) = (0usize, 0usize);
    for block in bytes.chunks(127) {
        let (mut c, mut e) = (0u8, 0u8);
        for &b in block {
            c += u8::from(b == b':');
            e += u8::from(b == b',') + u8::from(b == b'[');
        }
        colons += usize::from(c);
        commas += usize::from(e);
    }
    (colons, commas)
}

/// One whole document from `de`, nothing after it but whitespace.
fn parse_with<'a, R: serde_json::de::Read<'a>>(
    mut de: serde_json::Deserializer<R>,
    b: &mut Builder<'a>,
) -> Result<Node, JsonError> {
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
    src: &'a str,
    own: String,
    pending_items: Vec<Packed>,
    pending_fields: Vec<(Text, Node)>,
    /// The scan's members of the objects still open, each pushed whole as soon as its
    /// value is read.
    pending_members: Vec<Member>,
    items: Vec<Packed>,
    fields: Vec<Member>,
    /// About how many bytes the tree may take ([`parse_within`]).
    /// The tree may take as many bytes as the text read so far, or this many
    /// ([`parse_within`]).
    floor: usize,
    /// The scan stopped because the tree would outgrow the text.
    over: bool,
}

impl<'a> Builder<'a> {
    /// Whether the tree, with `more` bytes, would take more than the `read` bytes of
    /// text read so far, and more than the floor: its arenas as written, and the room of
    /// the containers still open.
    #[inline]
    fn over_budget(&mut self, read: usize, more: usize) -> bool {
        let bytes = size_of::<Packed>() * (self.items.len() + self.pending_items.capacity())
            + size_of::<Member>() * (self.fields.len() + self.pending_members.capacity())
            + more;
        self.over = bytes > self.floor.max(read);
        self.over
    }

    /// Before a value is pushed onto a full pending stack: whether its doubling would
    /// outgrow the text.
    #[inline]
    fn full_items_over(&mut self, read: usize) -> bool {
        let room = self.pending_items.capacity();
        self.pending_items.len() == room && self.over_budget(read, room * size_of::<Packed>())
    }

    #[inline]
    fn full_members_over(&mut self, read: usize) -> bool {
        let room = self.pending_members.capacity();
        self.pending_members.len() == room && self.over_budget(read, room * size_of::<Member>())
    }

    /// A string the tokenizer borrowed from the input: its place in the text.
    fn borrowed<E: de::Error>(&mut self, v: &'a str) -> Result<Text, E> {
        // `v` is a `str` inside the text (its bounds are char boundaries): only where
        // it starts is needed. Anything else (a byte-wise parse) is copied.
        let base = self.src.as_ptr() as usize;
        let at = (v.as_ptr() as usize).wrapping_sub(base);
        if at <= self.src.len() && v.len() <= self.src.len() - at {
            Ok(Text {
                at: at as u32,
                len: v.len() as u32,
            })
        } else {
            self.copied(v)
        }
    }

    /// A string the tokenizer decoded (it had escapes): kept in the document's buffer.
    fn copied<E: de::Error>(&mut self, v: &str) -> Result<Text, E> {
        own_text(&mut self.own, v).map_err(|_| E::custom("document too large"))
    }
}

struct NodeSeed<'s, 'a> {
    b: &'s mut Builder<'a>,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, 'de> {
    type Value = Node;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_, 'de> {
    type Value = Node;

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
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        self.b.borrowed(v).map(Node::Str)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.b.copied(v).map(Node::Str)
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
            self.b.pending_items.push(Packed::pack(x));
        }
        let b = &mut *self.b;
        let start = b.items.len();
        b.items.extend(b.pending_items.drain(mark..));
        Ok(Node::Arr(Span {
            start: start as u32,
            len: (b.items.len() - start) as u32,
        }))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mark = self.b.pending_fields.len();
        while let Some(k) = map.next_key_seed(KeySeed { b: &mut *self.b })? {
            let val = map.next_value_seed(NodeSeed { b: &mut *self.b })?;
            self.b.pending_fields.push((k, val));
        }
        let b = &mut *self.b;
        let start = b.fields.len();
        b.fields.extend(
            b.pending_fields
                .drain(mark..)
                .map(|(k, v)| Member::new(k, v)),
        );
        Ok(Node::Obj(Span {
            start: start as u32,
            len: (b.fields.len() - start) as u32,
        }))
    }
}

struct KeySeed<'s, 'a> {
    b: &'s mut Builder<'a>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_, 'de> {
    type Value = Text;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, 'de> {
    type Value = Text;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        self.b.borrowed(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.b.copied(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields_of(d: &Doc<'_>, span: Span) -> Vec<(Text, Node)> {
        d.fields(span).iter().collect()
    }

    fn items_of(d: &Doc<'_>, span: Span) -> Vec<Node> {
        d.items(span).iter().collect()
    }

    #[test]
    fn arenas_store_nodes_in_12_bytes_and_members_in_16_and_read_back_every_kind() {
        assert_eq!(std::mem::size_of::<Packed>(), 12);
        assert_eq!(std::mem::size_of::<Member>(), 16);
        let own = Text {
            at: OWN | 5,
            len: LEN_MASK,
        };
        let nodes = [
            Node::Null,
            Node::Bool(false),
            Node::Bool(true),
            Node::Num(Num::U(0)),
            Node::Num(Num::U(u64::MAX)),
            Node::Num(Num::I(i64::MIN)),
            Node::Num(Num::I(-1)),
            Node::Num(Num::F(-0.0)),
            Node::Num(Num::F(f64::MAX)),
            Node::Num(Num::F(1.5e-300)),
            Node::Str(own),
            Node::Str(Text {
                at: MAX_DOC_BYTES as u32,
                len: 0,
            }),
            Node::Arr(Span {
                start: u32::MAX,
                len: u32::MAX,
            }),
            Node::Obj(Span { start: 7, len: 3 }),
        ];
        for (i, n) in nodes.into_iter().enumerate() {
            assert_eq!(Packed::pack(n).node(), n, "{n:?}");
            // Bit for bit: -0.0 == 0.0 as a float, not as a node kept for comparison.
            if let (Node::Num(Num::F(a)), Node::Num(Num::F(b))) = (Packed::pack(n).node(), n) {
                assert_eq!(a.to_bits(), b.to_bits());
            }
            for key in [
                own,
                Text { at: 0, len: 0 },
                Text {
                    at: i as u32,
                    len: 11,
                },
            ] {
                let m = Member::new(key, n);
                assert_eq!((m.key(), m.value()), (key, n), "{key:?} {n:?}");
            }
        }
    }

    fn str_of<'d>(d: &'d Doc<'_>, n: Node) -> &'d str {
        let Node::Str(t) = n else {
            panic!("not a string: {n:?}")
        };
        d.text(t)
    }

    #[test]
    fn keeps_duplicate_keys() {
        let d = parse(br#"{"email":"a@example.org","email":"b@example.org"}"#).unwrap();
        let Node::Obj(f) = d.root else { panic!() };
        let f = fields_of(&d, f);
        assert_eq!(f.len(), 2);
        assert_eq!(d.text(f[0].0), "email");
        assert_eq!(d.text(f[1].0), "email");
        assert_eq!(str_of(&d, f[0].1), "a@example.org");
        assert_eq!(str_of(&d, f[1].1), "b@example.org");
    }

    #[test]
    fn scalars_and_errors() {
        assert_eq!(parse(b" 42 ").unwrap().root, Node::Num(Num::U(42)));
        let d = parse(br#""x\u0041""#).unwrap();
        assert_eq!(str_of(&d, d.root), "xA");
        assert!(matches!(
            parse(b"{\"a\":1} x"),
            Err(JsonError::Invalid { .. })
        ));
        assert!(matches!(parse(b"{\"a\":"), Err(JsonError::Invalid { .. })));
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(parse(deep.as_bytes()).unwrap_err(), JsonError::TooDeep);
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn escaped_and_plain_strings_and_keys_side_by_side() {
        // Escaped keys and values are decoded into the document's own buffer; plain
        // ones are slices of the text. Both read back exactly.
        let d = parse(
            r#"{"pl\u0061in":"caf\u00e9 \"quoted\"","plain":"café","e\/m":"a\u0040example.org","":""}"#
                .as_bytes(),
        )
        .unwrap();
        let Node::Obj(f) = d.root else { panic!() };
        let got: Vec<(&str, &str)> = d
            .fields(f)
            .iter()
            .map(|(k, v)| (d.text(k), str_of(&d, v)))
            .collect();
        assert_eq!(
            got,
            [
                ("plain", "café \"quoted\""),
                ("plain", "café"),
                ("e/m", "a@example.org"),
                ("", "")
            ]
        );
    }

    #[test]
    fn nodes_and_members_are_small() {
        // The point of the handles: a tree about the size of its text.
        assert!(std::mem::size_of::<Node>() <= 16);
        assert!(std::mem::size_of::<(Text, Node)>() <= 24);
    }

    #[test]
    fn large_documents_reserve_by_counting_and_parse_the_same() {
        let one = r#"{"email":"a@example.org","note":"a:b,c[d","tags":["x","y"]}"#;
        let body = format!("[{}]", vec![one; 4000].join(","));
        assert!(body.len() >= COUNT_FROM);
        let d = parse(body.as_bytes()).unwrap();
        let Node::Arr(items) = d.root else { panic!() };
        assert_eq!(items_of(&d, items).len(), 4000);
        let Node::Obj(last) = items_of(&d, items)[3999] else {
            panic!()
        };
        let last = fields_of(&d, last);
        assert_eq!(str_of(&d, last[1].1), "a:b,c[d");
        let Node::Arr(tags) = last[2].1 else { panic!() };
        assert_eq!(str_of(&d, items_of(&d, tags)[1]), "y");
    }

    #[test]
    fn objects_from_pairs() {
        let d = Doc::object([("to", "x"), ("phone", "+44 20 7946 0321")]).unwrap();
        let Node::Obj(f) = d.root else { panic!() };
        let f = fields_of(&d, f);
        assert_eq!(d.text(f[1].0), "phone");
        assert_eq!(str_of(&d, f[1].1), "+44 20 7946 0321");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_invalid_json() {
        // UTF-8 is checked once for the whole body; a body that fails it is parsed
        // byte-wise and reports where the JSON went wrong.
        assert_eq!(
            parse(b"{\"a\":\"x\xff\"}").unwrap_err(),
            JsonError::Invalid { line: 1, column: 8 }
        );
        assert!(matches!(parse(b"\xff"), Err(JsonError::Invalid { .. })));
    }

    #[test]
    fn containers_keep_order_and_nesting() {
        let d = parse(br#"{"a":[1,{"b":[],"c":{}},[2,3]],"d":{"e":"f"},"a":null}"#).unwrap();
        let Node::Obj(f) = d.root else { panic!() };
        let f = fields_of(&d, f);
        let keys: Vec<&str> = f.iter().map(|(k, _)| d.text(*k)).collect();
        assert_eq!(keys, ["a", "d", "a"]);
        assert_eq!(f[2].1, Node::Null);
        let Node::Arr(items) = f[0].1 else { panic!() };
        let items = items_of(&d, items);
        assert_eq!(items.len(), 3);
        assert_eq!(items[0], Node::Num(Num::U(1)));
        let Node::Arr(last) = items[2] else { panic!() };
        assert_eq!(
            items_of(&d, last),
            [Node::Num(Num::U(2)), Node::Num(Num::U(3))]
        );
        let Node::Obj(inner) = items[1] else { panic!() };
        let inner = fields_of(&d, inner);
        assert_eq!(d.text(inner[0].0), "b");
        assert!(matches!(inner[0].1, Node::Arr(s) if s.is_empty()));
        assert_eq!(d.text(inner[1].0), "c");
        assert!(matches!(inner[1].1, Node::Obj(s) if s.is_empty()));
        let Node::Obj(e) = f[1].1 else { panic!() };
        let e = fields_of(&d, e);
        assert_eq!((d.text(e[0].0), str_of(&d, e[0].1)), ("e", "f"));
    }

    #[test]
    fn the_scan_reads_what_it_can_and_leaves_the_rest_to_serde_json() {
        let nest = |d: usize| format!("{}{}", "[".repeat(d), "]".repeat(d));
        let scanned = [
            "-0",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "1.5",
            "-0.1e-5",
            "1E+2",
            r#""\ud83d\ude00""#,
            r#""caf\u00E9""#,
            r#""a\tb\/\"\\\b\f\r\n""#,
            " \t\n\r[ 1 , { \"a\" : [ ] } ] ",
            r#"{"a":1,"a":{"b":[true,false,null]}}"#,
        ];
        // serde_json reads 127 levels of nesting and refuses 128.
        for text in scanned.iter().map(|s| s.to_string()).chain([nest(127)]) {
            assert!(check_scan(text.as_bytes()), "`{text}` was not scanned");
        }
        let left = [
            "18446744073709551616",
            "1e400",
            "01",
            "1.",
            ".5",
            "-",
            "[1,]",
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            "[1 2]",
            r#""\ud800""#,
            r#""\udc00x""#,
            r#""\ud800\u0041""#,
            r#""\ud800\ud800""#,
            "\"\u{1f}\"",
            "[\u{c}1]",
            r#""\x""#,
            "\"\u{1}\"",
            "\"abc",
            "tru",
            "nulls",
            "",
            "  ",
            "{}}",
        ];
        for text in left
            .iter()
            .map(|s| s.to_string())
            .chain([nest(128), nest(129)])
        {
            assert!(!check_scan(text.as_bytes()), "`{text}` was scanned");
        }
        assert!(!check_scan(b"[\"\xff\"]"));
    }

    /// The tree as a `serde_json::Value`, for comparing with serde_json's own reading.
    fn to_value(d: &Doc<'_>, n: Node) -> serde_json::Value {
        use serde_json::Value;
        match n {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(b),
            Node::Num(Num::U(u)) => Value::from(u),
            Node::Num(Num::I(i)) => Value::from(i),
            Node::Num(Num::F(f)) => Value::from(f),
            Node::Str(t) => Value::String(d.text(t).to_string()),
            Node::Arr(a) => Value::Array(d.items(a).iter().map(|x| to_value(d, x)).collect()),
            Node::Obj(o) => Value::Object(
                d.fields(o)
                    .iter()
                    .map(|(k, v)| (d.text(k).to_string(), to_value(d, v)))
                    .collect(),
            ),
        }
    }

    fn any_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e300f64..1e300).prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,8}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Writes `v` as JSON, escaping every `n`th character of every string as `\uXXXX`
    /// (surrogate pairs above the BMP), so both the plain and the decoded paths run.
    fn write_escaped(v: &serde_json::Value, n: usize, out: &mut String) {
        use serde_json::Value;
        match v {
            Value::String(s) => {
                out.push('"');
                for (i, c) in s.chars().enumerate() {
                    if n > 0 && i % n == 0 {
                        let mut units = [0u16; 2];
                        for u in c.encode_utf16(&mut units) {
                            out.push_str(&format!("\\u{:04x}", u));
                        }
                    } else {
                        let one = serde_json::to_string(&c.to_string()).unwrap();
                        out.push_str(&one[1..one.len() - 1]);
                    }
                }
                out.push('"');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_escaped(x, n, out);
                }
                out.push(']');
            }
            Value::Object(o) => {
                out.push('{');
                for (i, (k, x)) in o.iter().enumerate() {
                    if i > 0 {
                        out.push_str(" , ");
                    }
                    write_escaped(&Value::String(k.clone()), n, out);
                    out.push(':');
                    write_escaped(x, n, out);
                }
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 192, ..Default::default() })]

        /// The tree reads every document exactly as serde_json does: the same strings
        /// (plain or escaped), numbers, nesting and order.
        #[test]
        fn reads_documents_as_serde_json_does(v in any_json(), n in 0usize..4) {
            let mut text = String::new();
            write_escaped(&v, n, &mut text);
            let d = parse(text.as_bytes()).unwrap();
            let want: serde_json::Value = serde_json::from_str(&text).unwrap();
            proptest::prop_assert_eq!(to_value(&d, d.root), want);
            // Read by the scan itself, exactly as serde_json builds the tree.
            proptest::prop_assert!(check_scan(text.as_bytes()), "not scanned: {}", text);
        }

        /// Any bytes made of JSON's pieces get the same tree, or the same error, from the
        /// scan (with its fallback) as from serde_json alone.
        #[test]
        fn reads_bytes_as_serde_json_alone_does(bytes in proptest::collection::vec(
            proptest::prelude::prop_oneof![
                proptest::prelude::Just(&b"{"[..]), proptest::prelude::Just(&b"}"[..]),
                proptest::prelude::Just(&b"["[..]), proptest::prelude::Just(&b"]"[..]),
                proptest::prelude::Just(&b"\""[..]), proptest::prelude::Just(&b":"[..]),
                proptest::prelude::Just(&b","[..]), proptest::prelude::Just(&b"\\"[..]),
                proptest::prelude::Just(&b"\\u"[..]), proptest::prelude::Just(&b"d83d"[..]),
                proptest::prelude::Just(&b"DE00"[..]), proptest::prelude::Just(&b"00e9"[..]),
                proptest::prelude::Just(&b"\\n"[..]), proptest::prelude::Just(&b"-"[..]),
                proptest::prelude::Just(&b"0"[..]), proptest::prelude::Just(&b"19"[..]),
                proptest::prelude::Just(&b"."[..]), proptest::prelude::Just(&b"e+"[..]),
                proptest::prelude::Just(&b"E-"[..]), proptest::prelude::Just(&b"true"[..]),
                proptest::prelude::Just(&b"nul"[..]), proptest::prelude::Just(&b"l"[..]),
                proptest::prelude::Just(&b" "[..]), proptest::prelude::Just(&b"\n"[..]),
                proptest::prelude::Just(&b"\"a\":"[..]), proptest::prelude::Just(&b"\x01"[..]),
                proptest::prelude::Just(&b"\x1f"[..]), proptest::prelude::Just(&b"\x0c"[..]),
                proptest::prelude::Just(&b"d800"[..]),
                proptest::prelude::Just("é".as_bytes()), proptest::prelude::Just(&b"\xff"[..]),
            ], 0..24)) {
            check_scan(&bytes.concat());
        }

        /// And accepts and refuses the same byte strings.
        #[test]
        fn accepts_what_serde_json_accepts(bytes in proptest::collection::vec(
            proptest::prelude::prop_oneof![
                proptest::prelude::Just(b'{'), proptest::prelude::Just(b'}'),
                proptest::prelude::Just(b'['), proptest::prelude::Just(b']'),
                proptest::prelude::Just(b'"'), proptest::prelude::Just(b':'),
                proptest::prelude::Just(b','), proptest::prelude::Just(b'\\'),
                proptest::prelude::Just(b'u'), proptest::prelude::Just(b'1'),
                proptest::prelude::Just(b' '), proptest::prelude::any::<u8>(),
            ], 0..24)) {
            let ours = parse(&bytes).is_ok();
            let theirs = serde_json::from_slice::<serde_json::Value>(&bytes).is_ok();
            proptest::prop_assert_eq!(ours, theirs);
        }
    }
}
