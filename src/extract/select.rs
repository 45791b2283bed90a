//! A profile's JSONPath selectors (RFC 9535), evaluated on customs' own tree of the body.
//!
//! `serde_json_path` validates every selector when the policy loads, and can evaluate
//! any of them, but only on a `serde_json::Value` of the whole body: about four times the
//! body's size, on top of the body and its own tree. Selectors made of names, indices,
//! slices, wildcards and filters (`$.content`, `$.users[*]`, `$..debug`,
//! `$.users[?@.kind == 'bot' && !@.verified]`) are evaluated here, on the tree the walk
//! uses anyway. A selector that calls a function (`length`, `count`, `match`, `search`,
//! `value`) keeps `serde_json_path` (see [`Selector::on_tree`]).
//!
//! The result is the same set of JSON pointers `serde_json_path` locates on the `Value`
//! (a property test compares them). That includes duplicate keys: the `Value` holds only
//! a key's last occurrence, so names, wildcards, filters and descendants here see only
//! that one. It includes `serde_json_path`'s comparisons too, where they differ from RFC
//! 9535: `>` and `>=` between two arrays, objects, booleans or nulls are true unless the
//! two are equal (the RFC says false), and a negative index in a comparison's query
//! (`@[-1] == 1`) selects nothing (the RFC counts from the end). Numbers compare as
//! `f64`. A policy selects here what it selected there, with or without a function.

use std::collections::{HashMap, HashSet};

use serde_json_path::JsonPath;

use super::json::{Doc, Node, Num, Span, unescape};
use super::records::escape;

/// A parsed selector: `serde_json_path`'s, and the same query as evaluated here when it
/// uses only the segments this module reads.
#[derive(Debug, Clone)]
pub struct Selector {
    pub path: JsonPath,
    own: Option<Vec<Segment>>,
}

impl Selector {
    /// Parses `s` as `serde_json_path` does (the policy's validation and its errors),
    /// after refusing what its parser cannot take: brackets nested deeper than
    /// [`MAX_SELECTOR_NESTING`], and text ending inside a quoted name or string (its
    /// parser panics on `$['\u`; fuzzing found it).
    pub fn parse(s: &str) -> Result<Selector, SelectorError> {
        let (depth, unclosed) = shape(s);
        if unclosed {
            return Err(SelectorError::Unclosed);
        }
        if depth > MAX_SELECTOR_NESTING {
            return Err(SelectorError::TooDeep(depth));
        }
        // Should another input make it panic, the selector is refused, not the process.
        let path = std::panic::catch_unwind(|| JsonPath::parse(s))
            .map_err(|_| SelectorError::Unreadable)?
            .map_err(SelectorError::Syntax)?;
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
        for (_, p) in run(doc, segments, doc.root, String::new()) {
            into.insert(format!("{prefix}{p}"));
        }
        true
    }

    /// The pointers of every value `serde_json_path` selects in `value`, each appended
    /// to `prefix` and inserted in `into` (what [`Selector::locate`] does on the tree).
    pub fn locate_value(
        &self,
        value: &serde_json::Value,
        prefix: &str,
        into: &mut HashSet<String>,
    ) {
        for node in self.path.query_located(value) {
            into.insert(format!("{prefix}{}", node.location().to_json_pointer()));
        }
    }
}

/// The values `segments` select from `start` (whose pointer is `ptr`), with pointers.
fn run(doc: &Doc<'_>, segments: &[Segment], start: Node, ptr: String) -> Vec<(Node, String)> {
    let mut nodes = vec![(start, ptr)];
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
    nodes
}

/// How deep a selector may nest brackets (`[?@.a[?@.b]]` is 2). `serde_json_path`'s
/// parser takes about twice as long for each filter nested in another (fuzzing found it:
/// ~1 ms at 8 in a release build, ~18 ms at 12, hours by 30), and the policy is parsed
/// on every load and reload, so deeper selectors are refused before it sees them.
pub const MAX_SELECTOR_NESTING: usize = 8;

/// Why a profile's selector is refused.
#[derive(Debug, thiserror::Error)]
pub enum SelectorError {
    #[error("{0}")]
    Syntax(serde_json_path::ParseError),
    #[error("brackets nested {0} deep; at most {MAX_SELECTOR_NESTING} are allowed")]
    TooDeep(usize),
    #[error("a quoted name or string is not closed")]
    Unclosed,
    #[error("the JSONPath parser failed on it")]
    Unreadable,
}

/// The deepest nesting of `[` in a selector, outside its quoted names and strings, and
/// whether the text ends inside one of those.
fn shape(s: &str) -> (usize, bool) {
    let (mut depth, mut max, mut quote, mut escaped) = (0usize, 0, None, false);
    for b in s.bytes() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if b == b'\\' => escaped = true,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'\'' | b'"' => quote = Some(b),
                b'[' => {
                    depth += 1;
                    max = max.max(depth);
                }
                b']' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    (max, quote.is_some())
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
    /// `?` and its logical expression.
    Filter(Box<Or>),
}

/// A filter's logical expression: alternatives (`||`) of conjunctions (`&&`).
type Or = Vec<Vec<Basic>>;

#[derive(Debug, Clone, PartialEq)]
enum Basic {
    /// `( … )`, negated with `!`.
    Paren(bool, Or),
    /// A query selecting anything (`@.a`, `$.x`), negated with `!`.
    Exists(bool, Query),
    Compare(Operand, Op, Operand),
}

/// A query inside a filter: from the root (`$`) or from the value tested (`@`).
#[derive(Debug, Clone, PartialEq)]
struct Query {
    root: bool,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Literal(Literal),
    /// A singular query (one name or index per segment, no descendants): the one value
    /// it selects, or nothing.
    Query(Query),
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Null,
    Bool(bool),
    /// Read by serde_json as `serde_json_path` reads it, and compared as its `f64`.
    Num(f64),
    Str(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// One side of a comparison.
#[derive(Clone, Copy)]
enum Val<'l> {
    Nothing,
    Node(Node),
    Literal(&'l Literal),
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
            (Sel::Filter(or), _) => children(doc, node, ptr, &mut |n, p| {
                if test(doc, or, n) {
                    out(n, p);
                }
            }),
            _ => {}
        }
    }
}

/// Whether `current` passes a filter.
fn test(doc: &Doc<'_>, or: &Or, current: Node) -> bool {
    or.iter().any(|and| {
        and.iter().all(|basic| match basic {
            Basic::Paren(not, or) => test(doc, or, current) != *not,
            Basic::Exists(not, q) => q.nodes(doc, current).is_empty() == *not,
            Basic::Compare(l, op, r) => {
                let (l, r) = (l.val(doc, current), r.val(doc, current));
                let same = same_kind(l, r);
                match op {
                    Op::Eq => equal(doc, l, r),
                    Op::Ne => !equal(doc, l, r),
                    Op::Lt => same && less(doc, l, r),
                    Op::Le => same && (less(doc, l, r) || equal(doc, l, r)),
                    // As serde_json_path has them (see the module's note).
                    Op::Gt => same && !less(doc, l, r) && !equal(doc, l, r),
                    Op::Ge => same && !less(doc, l, r),
                }
            }
        })
    })
}

impl Query {
    /// The value a singular query selects. As `serde_json_path` evaluates one, a negative
    /// index selects nothing here (RFC 9535 counts it from the end, and does so in any
    /// other query).
    fn singular(&self, doc: &Doc<'_>, current: Node) -> Option<Node> {
        let mut node = if self.root { doc.root } else { current };
        for seg in &self.segments {
            node = match (seg, node) {
                (Segment::Child(sels), Node::Obj(fields)) => match &sels[..] {
                    [Sel::Name(name)] => {
                        doc.fields(fields)
                            .iter()
                            .rev()
                            .find(|(k, _)| doc.text(*k) == name)?
                            .1
                    }
                    _ => return None,
                },
                (Segment::Child(sels), Node::Arr(items)) => match &sels[..] {
                    [Sel::Index(i)] => doc.items(items).get(usize::try_from(*i).ok()?)?,
                    _ => return None,
                },
                _ => return None,
            };
        }
        Some(node)
    }

    /// Whether it is a singular query: one name or index per segment, no descendants.
    fn is_singular(&self) -> bool {
        self.segments.iter().all(|seg| {
            matches!(seg, Segment::Child(sels) if matches!(&sels[..], [Sel::Name(_) | Sel::Index(_)]))
        })
    }

    fn nodes(&self, doc: &Doc<'_>, current: Node) -> Vec<Node> {
        let start = if self.root { doc.root } else { current };
        run(doc, &self.segments, start, String::new())
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }
}

impl Operand {
    fn val(&self, doc: &Doc<'_>, current: Node) -> Val<'_> {
        match self {
            Operand::Literal(l) => Val::Literal(l),
            Operand::Query(q) => q.singular(doc, current).map_or(Val::Nothing, Val::Node),
        }
    }
}

/// The kind of a value, as `serde_json::Value`'s variants tell them apart.
fn kind(v: Val<'_>) -> Option<u8> {
    Some(match v {
        Val::Nothing => return None,
        Val::Node(Node::Null) | Val::Literal(Literal::Null) => 0,
        Val::Node(Node::Bool(_)) | Val::Literal(Literal::Bool(_)) => 1,
        Val::Node(Node::Num(_)) | Val::Literal(Literal::Num(_)) => 2,
        Val::Node(Node::Str(_)) | Val::Literal(Literal::Str(_)) => 3,
        Val::Node(Node::Arr(_)) => 4,
        Val::Node(Node::Obj(_)) => 5,
    })
}

fn same_kind(l: Val<'_>, r: Val<'_>) -> bool {
    kind(l).is_some() && kind(l) == kind(r)
}

fn number(v: Val<'_>) -> Option<f64> {
    match v {
        Val::Node(Node::Num(n)) => Some(match n {
            Num::U(u) => u as f64,
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }),
        Val::Literal(Literal::Num(f)) => Some(*f),
        _ => None,
    }
}

fn text<'v>(doc: &'v Doc<'_>, v: &Val<'v>) -> Option<&'v str> {
    match v {
        Val::Node(Node::Str(t)) => Some(doc.text(*t)),
        Val::Literal(Literal::Str(s)) => Some(s),
        _ => None,
    }
}

/// `==`: nothing equals nothing; two numbers compare as `f64`; anything else as
/// `serde_json::Value`s compare.
fn equal(doc: &Doc<'_>, l: Val<'_>, r: Val<'_>) -> bool {
    if let (Some(a), Some(b)) = (number(l), number(r)) {
        return a == b;
    }
    match (l, r) {
        (Val::Nothing, Val::Nothing) => true,
        (Val::Node(a), Val::Node(b)) => same_value(doc, a, b),
        (Val::Node(n), Val::Literal(lit)) | (Val::Literal(lit), Val::Node(n)) => match (n, lit) {
            (Node::Null, Literal::Null) => true,
            (Node::Bool(a), Literal::Bool(b)) => a == *b,
            (Node::Str(t), Literal::Str(s)) => doc.text(t) == s,
            _ => false,
        },
        (Val::Literal(a), Val::Literal(b)) => a == b,
        _ => false,
    }
}

/// `<`: between two numbers or two strings (by code point, as UTF-8 bytes order them).
fn less(doc: &Doc<'_>, l: Val<'_>, r: Val<'_>) -> bool {
    if let (Some(a), Some(b)) = (number(l), number(r)) {
        return a < b;
    }
    matches!((text(doc, &l), text(doc, &r)), (Some(a), Some(b)) if a < b)
}

/// Two values of the tree as `serde_json::Value`'s `==` has them: numbers equal only as
/// the same kind (`1` is not `1.0` inside an array), an object's members by name (a
/// duplicated name's last occurrence), in any order.
fn same_value(doc: &Doc<'_>, a: Node, b: Node) -> bool {
    match (a, b) {
        (Node::Null, Node::Null) => true,
        (Node::Bool(x), Node::Bool(y)) => x == y,
        (Node::Num(x), Node::Num(y)) => match (x, y) {
            (Num::U(x), Num::U(y)) => x == y,
            (Num::I(x), Num::I(y)) => x == y,
            (Num::F(x), Num::F(y)) => x == y,
            _ => false,
        },
        (Node::Str(x), Node::Str(y)) => doc.text(x) == doc.text(y),
        (Node::Arr(x), Node::Arr(y)) => {
            let (x, y) = (doc.items(x), doc.items(y));
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| same_value(doc, a, b))
        }
        (Node::Obj(x), Node::Obj(y)) => {
            let (x, y) = (last_members(doc, x), last_members(doc, y));
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(k).is_some_and(|b| same_value(doc, *a, *b)))
        }
        _ => false,
    }
}

/// An object's members by name, each name's last occurrence.
fn last_members<'d>(doc: &'d Doc<'_>, span: Span) -> HashMap<&'d str, Node> {
    doc.fields(span)
        .iter()
        .map(|(k, v)| (doc.text(k), v))
        .collect()
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

/// The query as segments, if it uses only names, wildcards, indices, slices and filters
/// without functions; `None` for anything else (a function) or anything unusual, which
/// `serde_json_path` then evaluates. Only called on text `serde_json_path` accepted, so
/// it need not reject what that parser rejects, only never read a valid query
/// differently.
fn parse(s: &str) -> Option<Vec<Segment>> {
    let mut p = Parser {
        s: s.as_bytes(),
        at: 0,
    };
    p.eat(b'$')?;
    let segments = p.segments()?;
    p.blank();
    p.peek().is_none().then_some(segments)
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn ahead(&self, t: &[u8]) -> bool {
        self.s[self.at.min(self.s.len())..].starts_with(t)
    }

    /// Segments, each after optional blanks, as long as one follows.
    fn segments(&mut self) -> Option<Vec<Segment>> {
        let mut segments = Vec::new();
        loop {
            let before = self.at;
            self.blank();
            match self.peek() {
                Some(b'[') => segments.push(Segment::Child(self.bracketed()?)),
                Some(b'.') => {
                    self.at += 1;
                    if self.peek() == Some(b'.') {
                        self.at += 1;
                        let sels = match self.peek()? {
                            b'[' => self.bracketed()?,
                            b'*' => {
                                self.at += 1;
                                vec![Sel::Wildcard]
                            }
                            _ => vec![Sel::Name(self.shorthand()?)],
                        };
                        segments.push(Segment::Descendant(sels));
                    } else if self.peek() == Some(b'*') {
                        self.at += 1;
                        segments.push(Segment::Child(vec![Sel::Wildcard]));
                    } else {
                        segments.push(Segment::Child(vec![Sel::Name(self.shorthand()?)]));
                    }
                }
                _ => {
                    self.at = before;
                    return Some(segments);
                }
            }
        }
    }

    /// `logical-or-expr`: `&&` binds tighter than `||`.
    fn or(&mut self) -> Option<Or> {
        self.separated(b"||", |p| p.separated(b"&&", Self::basic))
    }

    /// One `item`, then more as long as `sep` (between optional blanks) precedes one.
    fn separated<T>(
        &mut self,
        sep: &[u8],
        mut item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Vec<T>> {
        let mut items = vec![item(self)?];
        loop {
            let before = self.at;
            self.blank();
            if !self.ahead(sep) {
                self.at = before;
                return Some(items);
            }
            self.at += sep.len();
            self.blank();
            items.push(item(self)?);
        }
    }

    /// `basic-expr`: a parenthesised expression or a query, either maybe negated, or a
    /// comparison. A function (a name and `(`) is `None`.
    fn basic(&mut self) -> Option<Basic> {
        let not = self.peek()? == b'!';
        if not {
            self.at += 1;
            self.blank();
        }
        if self.peek()? == b'(' {
            self.at += 1;
            self.blank();
            let or = self.or()?;
            self.blank();
            self.eat(b')')?;
            return Some(Basic::Paren(not, or));
        }
        let left = self.operand()?;
        let before = self.at;
        self.blank();
        let op = [
            (&b"=="[..], Op::Eq),
            (b"!=", Op::Ne),
            (b"<=", Op::Le),
            (b">=", Op::Ge),
            (b"<", Op::Lt),
            (b">", Op::Gt),
        ]
        .into_iter()
        .find(|(t, _)| self.ahead(t));
        match (op, left) {
            (Some((t, op)), left) if !not => {
                self.at += t.len();
                self.blank();
                let right = self.operand()?;
                // A comparison's queries are singular (`serde_json_path` checked).
                let singular = |o: &Operand| match o {
                    Operand::Query(q) => q.is_singular(),
                    Operand::Literal(_) => true,
                };
                (singular(&left) && singular(&right)).then_some(Basic::Compare(left, op, right))
            }
            (None, Operand::Query(q)) => {
                self.at = before;
                Some(Basic::Exists(not, q))
            }
            _ => None,
        }
    }

    /// `comparable` without functions: a literal or a query.
    fn operand(&mut self) -> Option<Operand> {
        let lit = match self.peek()? {
            q @ (b'\'' | b'"') => Literal::Str(self.string(q)?),
            b'-' | b'0'..=b'9' => Literal::Num(self.number()?),
            b't' => self.word("true", Literal::Bool(true))?,
            b'f' => self.word("false", Literal::Bool(false))?,
            b'n' => self.word("null", Literal::Null)?,
            b @ (b'@' | b'$') => {
                self.at += 1;
                return Some(Operand::Query(Query {
                    root: b == b'$',
                    segments: self.segments()?,
                }));
            }
            _ => return None,
        };
        Some(Operand::Literal(lit))
    }

    /// `true`, `false` or `null`; not the start of a function's name.
    fn word(&mut self, w: &str, lit: Literal) -> Option<Literal> {
        if !self.ahead(w.as_bytes()) {
            return None;
        }
        self.at += w.len();
        let name_goes_on = self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'(');
        (!name_goes_on).then_some(lit)
    }

    /// A number literal (`-`, digits, a fraction, an exponent), read by serde_json as
    /// `serde_json_path` reads it, as its `f64`.
    fn number(&mut self) -> Option<f64> {
        let start = self.at;
        let digits = |p: &mut Self| {
            while p.peek().is_some_and(|b| b.is_ascii_digit()) {
                p.at += 1;
            }
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        digits(self);
        if self.peek() == Some(b'.') {
            self.at += 1;
            digits(self);
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            digits(self);
        }
        let text = std::str::from_utf8(&self.s[start..self.at]).ok()?;
        serde_json::from_str::<serde_json::Number>(text)
            .ok()?
            .as_f64()
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
            b'?' => {
                self.at += 1;
                self.blank();
                Some(Sel::Filter(Box::new(self.or()?)))
            }
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
            // Anything else: left to serde_json_path.
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
        let mut out = HashSet::new();
        Selector::parse(path)
            .unwrap()
            .locate_value(&value, "", &mut out);
        out
    }

    #[test]
    fn selectors_nesting_brackets_too_deep_are_refused_before_serde_json_path_parses_them() {
        let nested = |n: usize| format!("$[?{}@{}]", "@[?".repeat(n - 1), "]".repeat(n - 1));
        assert_eq!(shape(&nested(MAX_SELECTOR_NESTING)).0, MAX_SELECTOR_NESTING);
        let ok = Selector::parse(&nested(MAX_SELECTOR_NESTING)).unwrap();
        assert!(ok.on_tree());
        // 40 deep would keep serde_json_path's parser busy for days: refused at once.
        for n in [MAX_SELECTOR_NESTING + 1, 40] {
            match Selector::parse(&nested(n)) {
                Err(e @ SelectorError::TooDeep(d)) => {
                    assert_eq!(d, n);
                    assert!(e.to_string().contains("at most 8"), "{e}");
                }
                other => panic!("{n} deep: {other:?}"),
            }
        }
        // Brackets inside quoted names and strings do not count.
        assert_eq!(
            shape(r#"$['[[[[']["]]]\"[[[["][?@.b[?@ == '[[[[[[[[[']]"#),
            (2, false)
        );
        assert!(Selector::parse("$['[[[[[[[[[[[[[[[[[[']").is_ok());
        assert!(matches!(
            Selector::parse("$[?@.a ="),
            Err(SelectorError::Syntax(_))
        ));
    }

    #[test]
    fn selectors_ending_inside_a_quote_are_refused_without_reaching_the_parser() {
        // serde_json_path panics on these (`unreachable!`: a streaming parser meets the
        // end of the text inside a `\u` escape); the fuzzer found the first.
        for s in [
            r"$[?@[?'\\\u",
            r"$['\u",
            r#"$["\uD83D\u"#,
            r"$['a",
            r#"$[?@.a == "x]"#,
        ] {
            assert!(
                matches!(Selector::parse(s), Err(SelectorError::Unclosed)),
                "{s}"
            );
        }
        assert!(Selector::parse(r"$['\u0061']").is_ok());
        assert!(Selector::parse(r"$['\'']").is_ok());
    }

    #[test]
    fn functions_are_left_to_serde_json_path() {
        for path in [
            "$[?length(@) > 1]",
            "$..[?@.a && count(@.*) == 2]",
            "$[?match(@.a, 'x.*')]",
            "$[?!search(@.a, 'x')]",
            "$[?@.a == value(@.b)]",
            "$.users[?(@.kind == 'user' || length(@.tags) > 0)]",
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
        let filters = r#"{"users":[
            {"kind":"user","age":30,"email":"a","tags":["x"],"flags":{"v":true}},
            {"kind":"bot","age":7.5,"email":"b","tags":[],"flags":{"v":false}},
            {"kind":"user","age":-2,"tags":["x"],"flags":{"v":true,"v":false}},
            {"kind":"us\u0065r","age":1e2,"email":null,"n":1.0},
            3, "user", [1, 2], {"kind": {"a": [1, {"b": null}]}}
        ], "min": 10, "want": {"a": [1, {"b": null}]}}"#;
        for (path, n) in [
            ("$.users[?@.kind == 'user']", 3),
            ("$.users[?@.kind != 'user']", 5),
            ("$.users[?@.age > 10]", 2),
            ("$.users[?@.age >= $.min && @.kind == 'user']", 2),
            ("$.users[?@.age < 10]", 2),
            ("$.users[?@.age <= 7.5]", 2),
            ("$.users[?@.age == 100]", 1),
            ("$.users[?@.email]", 3),
            ("$.users[?!@.email]", 5),
            ("$.users[?@.email == null]", 1),
            ("$.users[?@.flags.v == true]", 1),
            ("$.users[?@.flags.v == false]", 2),
            ("$.users[?@.tags[0] == 'x' || @.kind == 'bot']", 3),
            ("$.users[?!(@.kind == 'user' || @.kind == 'bot')]", 4),
            ("$.users[?(@.age > 0) && !(@.age > 20)]", 1),
            ("$.users[?@ == 3]", 1),
            ("$.users[?@ == 3.0]", 1),
            ("$.users[?@ == 'user']", 1),
            ("$.users[?@ == 'user' || @[1] == 2]", 2),
            ("$.users[?@.kind == $.want]", 1),
            ("$.users[?@.n == 1]", 1),
            ("$.users[?@.kind > 'bot']", 3),
            ("$.users[?@.kind < 'user']", 1),
            ("$.users[?@.tags > @.tags]", 0),
            ("$.users[?@.flags >= $.want]", 3),
            ("$.users[?@.tags[?@ == 'x']]", 2),
            ("$..[?@.b == null]", 2),
            ("$..[?@ == 1]", 4),
            ("$.users[?@.missing == @.other]", 8),
            ("$.users[?@.missing < @.other]", 0),
            ("$.users[?@.age == 30, ?@[0] == 1]", 2),
            ("$.users[?@.kind=='bot'&&@.age<8]", 1),
            ("$.users[? @.kind == \"bot\" ]", 1),
            ("$.users[?@.kind == 'us\\u0065r' && @.age == 1e2]", 1),
        ] {
            assert_eq!(ours(path, filters), theirs(path, filters), "`{path}`");
            assert_eq!(ours(path, filters).len(), n, "`{path}`");
        }
        // Two values of the body compared whole: as `serde_json::Value`s, so a repeated
        // key's last occurrence, members in any order, `1` unlike `1.0` inside a value
        // (but equal at the top, as numbers), `-0.0` equal to `0.0`.
        let pairs = r#"{"list":[
            {"a":{"k":1,"k":2},"b":{"k":2}},
            {"a":{"k":1,"k":2},"b":{"k":1}},
            {"a":[1],"b":[1.0]},
            {"a":[1.0],"b":[1.0]},
            {"a":{"x":1,"y":[2]},"b":{"y":[2],"x":1}},
            {"a":[1,2],"b":[2,1]},
            {"a":{"k":-0.0},"b":{"k":0.0}},
            {"a":-1,"b":-1.0},
            {"a":{"k":1},"b":{"k":1,"j":1}},
            {"a":"s","b":["s"]}
        ]}"#;
        let path = "$.list[?@.a == @.b]";
        let want: HashSet<String> = [0, 3, 4, 6, 7]
            .iter()
            .map(|i| format!("/list/{i}"))
            .collect();
        assert_eq!(theirs(path, pairs), want);
        assert_eq!(ours(path, pairs), want);
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
            Just("1.0".to_string()),
            Just("-1".to_string()),
            Just("2".to_string()),
            Just("true".to_string()),
            Just("false".to_string()),
            Just("\"s\"".to_string()),
            Just("\"r\"".to_string()),
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
            // Filters: existence, comparisons of every kind, logic, nesting.
            Just("[?@.a]"),
            Just("[?!@.b]"),
            Just("[?@.a == 1]"),
            Just("[?@.a != 's']"),
            Just("[?@ == 1]"),
            Just("[?@ > 1]"),
            Just("[?@ <= 's']"),
            Just("[?@ < 'r' || @ >= 2]"),
            Just("[?@.a < @.b]"),
            Just("[?@.a >= @.b]"),
            Just("[?@.a > @.b]"),
            Just("[?@.a == @.b]"),
            Just("[?@.a != @['a/b']]"),
            Just("[?@[0] == 1 || @.a]"),
            Just("[?(@.a == null) && !@.b]"),
            Just("[?!(@[0] == @[1])]"),
            Just("[?$.a == @]"),
            Just("[?$[0] > @[-1]]"),
            Just("[?@..a]"),
            Just("[?@.*]"),
            Just("[?@[?@ == 1]]"),
            Just("[?@.a == true]"),
            Just("[?@.a == false && @.b == -1]"),
            Just("[?@[-1] == 1.0]"),
            Just("[?@.é == 's', 0]"),
            Just("..[?@.a]"),
            Just("..[?@ == 2]"),
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(6000))]
        /// Filters on arrays of records whose members are scalars, arrays and objects of
        /// every kind, so that every comparison meets every pair of kinds.
        #[test]
        fn filters_select_what_serde_json_path_selects(body in records(), path in filter_path()) {
            prop_assert_eq!(ours(&path, &body), theirs(&path, &body), "`{}` on {}", path, body);
        }
    }

    fn leaf() -> impl Strategy<Value = &'static str> {
        // Few values, so that equal ones meet often.
        prop_oneof![
            Just("null"),
            Just("true"),
            Just("false"),
            Just("1"),
            Just("1.0"),
            Just("-1"),
            Just("\"s\""),
            Just("\"r\""),
        ]
    }

    fn small() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => leaf().prop_map(String::from),
            1 => prop::collection::vec(leaf(), 0..3).prop_map(|v| format!("[{}]", v.join(","))),
            1 => prop::collection::vec((prop_oneof![Just("a"), Just("b")], leaf()), 0..4)
                .prop_map(|v| {
                    let m: Vec<String> = v.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", m.join(","))
                }),
        ]
    }

    /// An array of records (members `a`, `b`, `c` and `a/b`, repeated at times) and
    /// plain values.
    fn records() -> impl Strategy<Value = String> {
        let key = prop_oneof![Just("a"), Just("b"), Just("a/b")];
        let record = prop::collection::vec((key, small()), 0..5).prop_map(|v| {
            let m: Vec<String> = v.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", m.join(","))
        });
        prop::collection::vec(prop_oneof![3 => record, 1 => small()], 0..6)
            .prop_map(|v| format!("{{\"a\":1,\"list\":[{}]}}", v.join(",")))
    }

    fn filter_path() -> impl Strategy<Value = String> {
        let operand = prop_oneof![
            Just("@.a"),
            Just("@.b"),
            Just("@['a/b']"),
            Just("@[0]"),
            Just("@[-1]"),
            Just("@.a.b"),
            Just("@.a[1]"),
            Just("@"),
            Just("$.a"),
            Just("$.list[0]"),
            Just("1"),
            Just("1.0"),
            Just("-1"),
            Just("'s'"),
            Just("'r'"),
            Just("true"),
            Just("null"),
        ];
        let op = prop_oneof![
            Just("=="),
            Just("!="),
            Just("<"),
            Just("<="),
            Just(">"),
            Just(">="),
        ];
        let basic = prop_oneof![
            3 => (operand.clone(), op, operand).prop_map(|(l, o, r)| format!("{l} {o} {r}")),
            1 => prop_oneof![Just("@.a"), Just("!@.b"), Just("@..b"), Just("@.*"), Just("!@[1]")]
                .prop_map(String::from),
        ];
        let and = prop::collection::vec(basic, 1..3).prop_map(|v| v.join(" && "));
        let or = prop::collection::vec(and, 1..3).prop_map(|v| v.join(" || "));
        let expr = prop_oneof![
            3 => or.clone(),
            1 => or.prop_map(|e| format!("!({e})")),
        ];
        let at = prop_oneof![Just("$.list"), Just("$.list[*]"), Just("$"), Just("$..")];
        (at, expr).prop_map(|(at, e)| format!("{at}[?{e}]"))
    }
}
