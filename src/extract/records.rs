//! Finding the subjects in a JSON document.
//!
//! Every object is a candidate. An object whose own fields carry a signal or personal
//! data is a record. A nested object (or array element) without identifying fields of
//! its own (an email, a phone number, or a name beside other personal data) is a part
//! of the record above it (`address`, `device`, `location`, `preferences`); one with
//! them is a subject of its own (`reporter`, `reported_user`, each of `users[*]`).
//! Strings are inspected too: a string holding a JSON document is walked as part of
//! the record it sits in, and free text is scanned for emails, phones and IPs.

use std::collections::HashSet;

use super::select::Selector;

use super::fields::{FieldKind, FieldTable};
use super::json::{self, Doc, Fields, JsonError, Node, Scalar};
use super::signals::ids;
use super::text::{self, TextHitKind};
use super::{InspectError, PersonalField, Pointer, SignalKind};
use crate::policy::compile::{Limits, Profile};
use compact_str::CompactString;

mod context;
mod kv;
mod memo;
mod stream;
pub use stream::check_walks;

/// How many times a JSON document may be embedded in a string in a string.
pub const MAX_EMBEDDING: usize = 8;

/// A JSON document's tree may take as many bytes as the text read so far, or this many
/// (so small documents are always walked on their tree, the faster way); a document whose
/// tree outgrows it (many tiny values) is walked without one. With the body itself, a
/// request in flight then holds about twice its body, whatever its shape.
pub const TREE_FLOOR: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct RawSignal {
    pub kind: SignalKind,
    pub pointer: Pointer,
    /// The value, for the tagger only. Dropped by `tag`; never logged.
    pub value: CompactString,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawRecord {
    pub pointer: Pointer,
    pub personal: Vec<PersonalField>,
    pub signals: Vec<RawSignal>,
}

/// Where a walker hands each record once it is complete (nothing more can be added to
/// it), so that it can be tagged and decided while the walk goes on and need not be
/// held until the end. `index` is the record's place in the order records were found.
pub trait RecordSink {
    fn record(&mut self, index: usize, raw: RawRecord);
}

/// A sink that keeps every record with its index, in the order they close.
impl RecordSink for Vec<(usize, RawRecord)> {
    fn record(&mut self, index: usize, raw: RawRecord) {
        self.push((index, raw));
    }
}

pub struct Walker<'p> {
    fields: &'p FieldTable,
    profile: &'p Profile,
    /// The records still open, innermost last, with their indexes. A record is opened
    /// by the walk of one value and closed when that walk returns; values are nested,
    /// so records close in the reverse of the order they opened, and only the few
    /// around the current value are held.
    open: Vec<(usize, RawRecord)>,
    /// How many records have been found.
    found: usize,
    /// Where closed records go: the caller's sink, else `done`.
    sink: Option<&'p mut dyn RecordSink>,
    done: Vec<(usize, RawRecord)>,
    /// The pointer of the value being walked (a `String`: pushed to and truncated for
    /// every member, which it does faster than a `Pointer`).
    ptr: String,
    forced: HashSet<String>,
    ignored: HashSet<String>,
    embedding: usize,
    /// Inside a record a profile selector named: everything below belongs to it.
    absorbing: usize,
    limits: Limits,
    depth: usize,
    /// Under a `version`/`build` key: dotted quads there are versions, not addresses.
    versions: usize,
    /// The last key seen at each (depth, position) and its class: the objects of a
    /// batch repeat the same keys in the same order, so most keys are classified by
    /// one comparison instead of normalising and hashing them again.
    key_cache: Vec<(CompactString, KeyInfo)>,
    /// The signals of the contexts around the value being walked (see [`context`]):
    /// every record opened below them starts with them.
    inherited: Vec<RawSignal>,
    /// Subject records open around the value being walked: an object inside one is part
    /// of that subject, not a context.
    in_subject: usize,
    /// The free-text scans of this body's longer strings (see [`memo`]).
    scans: Option<Box<memo::ScanMemo>>,
    /// The object about to be walked is the value of a signal field of this kind
    /// (`"country": {"code": "DE"}`): see [`super::fields::names_the_value`].
    value_of: Option<FieldKind>,
    /// The object about to be walked is under a key grouping by country (`by_country`):
    /// each of its keys is the context of the records under it.
    grouped: bool,
}

/// What the walker needs to know about an object key.
#[derive(Debug, Clone, Copy, Default)]
struct KeyInfo {
    kind: Option<FieldKind>,
    /// No `~` or `/`: the key is its own JSON pointer token.
    plain: bool,
    /// Names a version or build (see [`versionish`]).
    version: bool,
    /// Groups the records under it by country (`by_country`: see `context`).
    groups: bool,
}

impl KeyInfo {
    fn of(fields: &FieldTable, key: &str) -> KeyInfo {
        let kind = fields.classify(key);
        KeyInfo {
            kind,
            plain: !needs_escape(key),
            version: kind.is_none() && versionish(key),
            groups: kind.is_none() && fields.groups_by_country(key),
        }
    }
}

thread_local! {
    /// The key cache a walker leaves behind, with the id of the field table it was
    /// built with: the next request on this thread starts with its keys classified.
    static KEY_CACHE: std::cell::RefCell<(u64, Vec<(CompactString, KeyInfo)>)> =
        const { std::cell::RefCell::new((0, Vec::new())) };
}

/// Positions within an object, and depths, that the key cache covers.
const KEY_CACHE_WIDTH: usize = 32;
const KEY_CACHE_DEPTH: usize = 16;

impl Drop for Walker<'_> {
    fn drop(&mut self) {
        let cache = std::mem::take(&mut self.key_cache);
        let id = self.fields.id();
        let _ = KEY_CACHE.try_with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                *c = (id, cache);
            }
        });
    }
}

pub(crate) fn from_json(e: JsonError) -> InspectError {
    match e {
        JsonError::TooDeep => InspectError::TooDeep,
        JsonError::Invalid { line, column } => InspectError::InvalidJson { line, column },
        JsonError::TooLarge => InspectError::Limit {
            name: "json_document_bytes",
            max: json::MAX_DOC_BYTES,
        },
    }
}

fn has_data(d: &Doc<'_>, n: &Node) -> bool {
    match n {
        Node::Null => scalar_has_data(Scalar::Null),
        Node::Bool(b) => scalar_has_data(Scalar::Bool(*b)),
        Node::Num(n) => scalar_has_data(Scalar::Num(*n)),
        Node::Str(s) => scalar_has_data(Scalar::Str(d.text(*s))),
        Node::Arr(a) => d.items(*a).iter().any(|v| has_data(d, &v)),
        Node::Obj(o) => d.fields(*o).iter().any(|(_, v)| has_data(d, &v)),
    }
}

/// Whether fields of `kind` are signals (where the subject is).
fn signal_field(kind: FieldKind) -> bool {
    matches!(
        kind,
        FieldKind::Country
            | FieldKind::Phone
            | FieldKind::Ip
            | FieldKind::Locale
            | FieldKind::TimeZone
            | FieldKind::CallingCode
            | FieldKind::Location
    )
}

/// Whether a scalar is data: a number or a string that is not blank.
fn scalar_has_data(v: Scalar<'_>) -> bool {
    match v {
        Scalar::Null | Scalar::Bool(_) => false,
        Scalar::Num(_) => true,
        Scalar::Str(s) => !blank(s),
    }
}

/// Empty or only whitespace. Most values start with a visible ASCII character, which
/// settles it without decoding the string.
fn blank(s: &str) -> bool {
    !s.as_bytes().first().is_some_and(u8::is_ascii_graphic) && s.trim().is_empty()
}

/// A key that names a version (`app_version`, `build`, `sdkVersion`, `release`).
fn versionish(key: &str) -> bool {
    // Called for every unclassified key: no allocation, ASCII case-insensitive search.
    let k = key.as_bytes();
    k.len() <= 64
        && [&b"version"[..], b"build", b"release", b"revision"]
            .iter()
            .any(|w| k.windows(w.len()).any(|win| win.eq_ignore_ascii_case(w)))
}

/// A key as a JSON pointer token (`~` → `~0`, `/` → `~1`).
pub fn escape(key: &str) -> String {
    let mut s = String::new();
    escape_into(&mut s, key);
    s
}

/// Whether a key differs from its JSON pointer token (it holds `~` or `/`).
fn needs_escape(key: &str) -> bool {
    key.bytes().any(|b| b == b'~' || b == b'/')
}

fn escape_into(out: &mut String, key: &str) {
    if !needs_escape(key) {
        out.push_str(key);
        return;
    }
    for c in key.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

impl<'p> Walker<'p> {
    pub fn new(fields: &'p FieldTable, profile: &'p Profile, limits: Limits) -> Self {
        Walker {
            fields,
            profile,
            open: Vec::with_capacity(4),
            found: 0,
            sink: None,
            done: Vec::new(),
            ptr: String::with_capacity(128),
            forced: HashSet::new(),
            ignored: HashSet::new(),
            embedding: 0,
            absorbing: 0,
            limits,
            depth: 0,
            versions: 0,
            inherited: Vec::new(),
            in_subject: 0,
            scans: None,
            value_of: None,
            grouped: false,
            key_cache: KEY_CACHE
                .try_with(|c| {
                    c.try_borrow_mut()
                        .ok()
                        .and_then(|mut c| (c.0 == fields.id()).then(|| std::mem::take(&mut c.1)))
                })
                .ok()
                .flatten()
                .unwrap_or_else(|| Vec::with_capacity(4 * KEY_CACHE_WIDTH)),
        }
    }

    /// What the `i`th key of an object at the current depth is.
    fn key_info(&mut self, i: usize, key: &str) -> KeyInfo {
        self.key_info_at(self.depth, i, key)
    }

    /// What the `i`th key of an object at `depth` is.
    #[inline(always)]
    fn key_info_at(&mut self, depth: usize, i: usize, key: &str) -> KeyInfo {
        if i >= KEY_CACHE_WIDTH || depth >= KEY_CACHE_DEPTH {
            return KeyInfo::of(self.fields, key);
        }
        let slot = depth * KEY_CACHE_WIDTH + i;
        if let Some((cached, info)) = self.key_cache.get(slot)
            && cached == key
        {
            return *info;
        }
        let info = KeyInfo::of(self.fields, key);
        if self.key_cache.len() <= slot {
            self.key_cache
                .resize(slot + 1, (CompactString::default(), KeyInfo::default()));
        }
        // Keys are mostly short: held inline, no allocation.
        self.key_cache[slot] = (CompactString::from(key), info);
        info
    }

    /// Hands each record to `sink` as soon as it is complete, instead of keeping it
    /// for [`Walker::finish`].
    pub fn with_sink(mut self, sink: &'p mut dyn RecordSink) -> Self {
        self.sink = Some(sink);
        self
    }

    /// How many records the walk has found so far.
    pub fn found(&self) -> usize {
        self.found
    }

    /// Ends the walk. Every record still open is closed (none is, after a walk that
    /// returned `Ok`). Without a sink, returns every record in the order found; with
    /// one, everything has gone to the sink and the list is empty.
    pub fn finish(mut self) -> Vec<RawRecord> {
        while let Some((index, raw)) = self.open.pop() {
            self.emit(index, raw);
        }
        let mut done = std::mem::take(&mut self.done);
        done.sort_unstable_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, r)| r).collect()
    }

    fn emit(&mut self, index: usize, raw: RawRecord) {
        match self.sink.as_deref_mut() {
            Some(sink) => sink.record(index, raw),
            None => self.done.push((index, raw)),
        }
    }

    /// Record `r` is complete: hand it on.
    fn close(&mut self, r: usize) {
        if let Some(at) = self.open.iter().rposition(|(i, _)| *i == r) {
            let (index, raw) = self.open.remove(at);
            self.emit(index, raw);
        }
    }

    /// The open record `r`. Only the walk of the value that opened a record holds its
    /// index, so a closed one is never asked for; were it asked for, the request is
    /// refused rather than the data dropped.
    fn slot(&mut self, r: usize) -> Result<&mut RawRecord, InspectError> {
        self.open
            .iter_mut()
            .rev()
            .find(|(i, _)| *i == r)
            .map(|(_, raw)| raw)
            .ok_or(InspectError::Internal("a closed record was written to"))
    }

    /// A whole JSON document.
    pub fn document(&mut self, body: &[u8]) -> Result<(), InspectError> {
        match self.bounded(body) {
            Some(r) => r,
            None => self.tree_document(body),
        }
    }

    /// A JSON document walked within about twice its size (see [`TREE_FLOOR`]): on its
    /// tree, unless the tree outgrows the text (many tiny values), then as it is read,
    /// without the tree ([`stream`]). `None` when the profile has
    /// selectors (they run on the tree) or the scan leaves the document to serde_json.
    fn bounded(&mut self, body: &[u8]) -> Option<Result<(), InspectError>> {
        if self.has_selectors() {
            return None;
        }
        match json::parse_within(body, TREE_FLOOR) {
            Ok(Some(doc)) => Some(self.value(&doc, &doc.root, None)),
            Ok(None) => stream::walk(self, body),
            Err(e) => Some(Err(from_json(e))),
        }
    }

    /// A whole JSON document that a reader wrote (the JSON of an XML body): walked as it
    /// is read, without its tree, so the document and a tree of it are never held
    /// together; on its tree when the profile has selectors or the scan leaves it.
    pub fn written_document(&mut self, body: &[u8]) -> Result<(), InspectError> {
        match self.streamed(body) {
            Some(r) => r,
            None => self.tree_document(body),
        }
    }

    /// Document `i` that a reader wrote (a YAML document, a CSV row), its records under
    /// `/i`, walked as [`Walker::written_document`] is.
    pub fn written_line(&mut self, i: usize, body: &[u8]) -> Result<(), InspectError> {
        if self.has_selectors() {
            return self.line(i, body);
        }
        let mark = self.ptr.len();
        push_index(&mut self.ptr, i);
        let r = self.written_document(body);
        self.ptr.truncate(mark);
        r
    }

    /// [`Walker::document`] without its tree: `None` when the profile has selectors
    /// (they run on the tree) or the scan leaves the document to serde_json.
    fn streamed(&mut self, body: &[u8]) -> Option<Result<(), InspectError>> {
        if self.has_selectors() {
            return None;
        }
        stream::walk(self, body)
    }

    /// The profile names records or ignores parts by selectors, which run on the tree.
    fn has_selectors(&self) -> bool {
        !self.profile.records.is_empty() || !self.profile.ignore.is_empty()
    }

    /// [`Walker::document`] on the document's tree.
    fn tree_document(&mut self, body: &[u8]) -> Result<(), InspectError> {
        let prefix = self.ptr.clone();
        if self.selectors_on_tree() {
            let doc = json::parse(body).map_err(from_json)?;
            self.apply_selectors(body, Some(&doc), &prefix)?;
            return self.value(&doc, &doc.root, None);
        }
        // A selector calling a function runs on serde_json's own tree of the body (~4x
        // the body): built and dropped before ours, so the two are never held together.
        if let Err(e) = self.apply_selectors(body, None, &prefix) {
            // A body that is not JSON gets the parser's own reason, as it would on a
            // profile without selectors.
            json::parse(body).map_err(from_json)?;
            return Err(e);
        }
        let doc = json::parse(body).map_err(from_json)?;
        self.value(&doc, &doc.root, None)
    }

    /// A whole JSON document already parsed from `body` (content sniffing parses it).
    pub fn parsed_document(&mut self, body: &[u8], doc: &Doc<'_>) -> Result<(), InspectError> {
        let prefix = self.ptr.clone();
        self.apply_selectors(body, Some(doc), &prefix)?;
        self.value(doc, &doc.root, None)
    }

    /// Line `i` of an NDJSON body: its records' pointers start with `/i`.
    pub fn line(&mut self, i: usize, line: &[u8]) -> Result<(), InspectError> {
        let mark = self.ptr.len();
        push_index(&mut self.ptr, i);
        let r = match self.bounded(line) {
            Some(r) => r,
            None => json::parse(line).map_err(from_json).and_then(|doc| {
                let prefix = self.ptr.clone();
                self.apply_selectors(line, Some(&doc), &prefix)?;
                self.value(&doc, &doc.root, None)
            }),
        };
        self.ptr.truncate(mark);
        r
    }

    /// An `application/x-www-form-urlencoded` body: every pair is a field, and every
    /// value of a repeated key counts.
    pub fn form(&mut self, body: &[u8]) -> Result<(), InspectError> {
        self.form_in(body, None)
    }

    /// A form's pairs walked as one object, in `ctx` (a form inside a string).
    fn form_in(&mut self, body: &[u8], ctx: Option<usize>) -> Result<(), InspectError> {
        let fields: Vec<_> = form_urlencoded::parse(body).collect();
        if fields.len() > self.limits.max_form_fields {
            return Err(InspectError::Limit {
                name: "max_form_fields",
                max: self.limits.max_form_fields,
            });
        }
        let doc = Doc::object(fields).map_err(from_json)?;
        self.value(&doc, &doc.root, ctx)
    }

    /// Name/value pairs outside the body (query string, headers, cookies), walked as
    /// one object whose pointers start with `prefix` (`?/email`, `@header/x-user`).
    pub fn envelope(
        &mut self,
        prefix: &str,
        pairs: Vec<(String, String)>,
    ) -> Result<(), InspectError> {
        if pairs.len() > self.limits.max_form_fields {
            return Err(InspectError::Limit {
                name: "max_form_fields",
                max: self.limits.max_form_fields,
            });
        }
        let doc = Doc::object(pairs).map_err(from_json)?;
        let mark = self.ptr.len();
        self.ptr.push_str(prefix);
        let r = self.value(&doc, &doc.root, None);
        self.ptr.truncate(mark);
        r
    }

    /// Runs `f` with `prefix` appended to the current pointer (a multipart part).
    pub fn with_prefix(
        &mut self,
        prefix: &str,
        f: impl FnOnce(&mut Self) -> Result<(), InspectError>,
    ) -> Result<(), InspectError> {
        self.enter()?;
        let mark = self.ptr.len();
        self.ptr.push_str(prefix);
        let r = f(self);
        self.ptr.truncate(mark);
        self.depth -= 1;
        r
    }

    /// A plain-text body.
    pub fn text_body(&mut self, text: &str) -> Result<(), InspectError> {
        self.string(text, None)
    }

    fn enter(&mut self) -> Result<(), InspectError> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            self.depth -= 1;
            return Err(InspectError::TooDeep);
        }
        Ok(())
    }

    /// Whether every selector of the profile is evaluated on our own tree (see
    /// [`Selector`]).
    fn selectors_on_tree(&self) -> bool {
        let p = self.profile;
        p.records.iter().chain(&p.ignore).all(Selector::on_tree)
    }

    /// Runs the profile's selectors on `doc` (the tree of `body`) when they all can, else
    /// on serde_json's tree of `body`, adding what they select to `forced` and `ignored`.
    fn apply_selectors(
        &mut self,
        body: &[u8],
        doc: Option<&Doc<'_>>,
        prefix: &str,
    ) -> Result<(), InspectError> {
        let profile = self.profile;
        if !self.has_selectors() {
            return Ok(());
        }
        if let Some(doc) = doc
            && self.selectors_on_tree()
        {
            for s in &profile.records {
                s.locate(doc, prefix, &mut self.forced);
            }
            for s in &profile.ignore {
                s.locate(doc, prefix, &mut self.ignored);
            }
            return Ok(());
        }
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|_| InspectError::Selector(self.profile.name.clone()))?;
        for s in &self.profile.records {
            s.locate_value(&value, prefix, &mut self.forced);
        }
        for s in &self.profile.ignore {
            s.locate_value(&value, prefix, &mut self.ignored);
        }
        Ok(())
    }

    fn new_record(&mut self) -> Result<usize, InspectError> {
        if self.found >= self.limits.max_records {
            return Err(InspectError::Limit {
                name: "max_records",
                max: self.limits.max_records,
            });
        }
        // Sized for a typical subject (a handful of fields and signals), so filling
        // them rarely reallocates.
        let index = self.found;
        self.found += 1;
        let mut signals = Vec::with_capacity(4 + self.inherited.len());
        signals.extend(self.inherited.iter().cloned());
        self.open.push((
            index,
            RawRecord {
                pointer: Pointer::from(self.ptr.as_str()),
                personal: Vec::with_capacity(8),
                signals,
            },
        ));
        Ok(index)
    }

    fn ensure(&mut self, ctx: Option<usize>) -> Result<usize, InspectError> {
        match ctx {
            Some(r) => Ok(r),
            None => self.new_record(),
        }
    }

    fn value(
        &mut self,
        doc: &Doc<'_>,
        node: &Node,
        ctx: Option<usize>,
    ) -> Result<(), InspectError> {
        self.enter()?;
        let res = self.value_selected(doc, node, ctx);
        self.depth -= 1;
        res
    }

    fn value_selected(
        &mut self,
        doc: &Doc<'_>,
        node: &Node,
        ctx: Option<usize>,
    ) -> Result<(), InspectError> {
        // A profile's record selector makes whatever it matches one subject's record.
        if !self.forced.is_empty() && self.forced.contains(self.ptr.as_str()) {
            let r = self.new_record()?;
            self.absorbing += 1;
            let res = match node {
                Node::Obj(fields) => self.object(doc, doc.fields(*fields), Some(r), true),
                _ => self.value_in(doc, node, Some(r)),
            };
            self.absorbing -= 1;
            self.close(r);
            return res;
        }
        self.value_in(doc, node, ctx)
    }

    fn value_in(
        &mut self,
        doc: &Doc<'_>,
        node: &Node,
        ctx: Option<usize>,
    ) -> Result<(), InspectError> {
        match node {
            Node::Obj(fields) => self.object(doc, doc.fields(*fields), ctx, false),
            Node::Arr(items) => {
                // A null, boolean or number says nothing, as under an unclassified key
                // (`object`).
                let scalars_say_nothing =
                    self.forced.is_empty() && self.depth < self.limits.max_depth;
                for (i, it) in doc.items(*items).iter().enumerate() {
                    if scalars_say_nothing
                        && matches!(it, Node::Null | Node::Bool(_) | Node::Num(_))
                    {
                        continue;
                    }
                    let mark = self.ptr.len();
                    push_index(&mut self.ptr, i);
                    let r = if self.ignored.contains(self.ptr.as_str()) {
                        Ok(())
                    } else {
                        self.value(doc, &it, ctx)
                    };
                    self.ptr.truncate(mark);
                    r?;
                }
                Ok(())
            }
            Node::Str(s) => self.string(doc.text(*s), ctx),
            _ => Ok(()),
        }
    }

    fn object(
        &mut self,
        doc: &Doc<'_>,
        fields: Fields<'_>,
        ctx: Option<usize>,
        forced: bool,
    ) -> Result<(), InspectError> {
        let mut strong = false;
        let mut identity = false;
        let mut name = false;
        // Classify each key once; the second pass reuses it.
        let mut small = [(KeyInfo::default(), ""); 16];
        let mut large = Vec::new();
        let keys: &mut [(KeyInfo, &str)] = if fields.len() <= small.len() {
            &mut small[..fields.len()]
        } else {
            large.resize(fields.len(), (KeyInfo::default(), ""));
            &mut large
        };
        let doc_fields = fields;
        let fields = fields.members();
        let value_of = self.value_of.take();
        let grouped = std::mem::take(&mut self.grouped);
        let pair = match value_of {
            None if doc_fields.len() == 2 => kv::pair(self.fields, doc, doc_fields),
            _ => None,
        };
        for (i, m) in fields.iter().enumerate() {
            let k = doc.text(m.key());
            keys[i] = (self.key_info(i, k), k);
            if let Some(kind) = value_of
                && let Some(member) = super::fields::member_kind(kind, k)
            {
                keys[i].0.kind = Some(member);
            }
            if let Some((name, value, kind)) = pair {
                keys[i].0.kind = if i == value {
                    Some(kind)
                } else if i == name {
                    None
                } else {
                    keys[i].0.kind
                };
            }
            let Some(kind) = keys[i].0.kind else {
                continue;
            };
            if !has_data(doc, &m.value()) {
                continue;
            }
            context::shape(&mut strong, &mut identity, &mut name, kind);
        }
        // (the value of a signal field is a part of its record, never a subject)
        if name && strong && value_of.is_none() {
            identity = true;
        }
        if value_of.is_some() {
            identity = false;
        }
        let (rec, opened) = if forced {
            (ctx, false)
        } else {
            match ctx {
                Some(p) if !identity || self.absorbing > 0 => (Some(p), false),
                _ if strong => (Some(self.new_record()?), true),
                _ => (ctx, false),
            }
        };
        // A null, boolean or number under a key that is not classified says nothing: it
        // is skipped without building its pointer, unless a record selector could name
        // it or it would cross the depth limit (both handled by `value`). Keys classified
        // as not personal are skipped whole, as `value` would.
        // Outside any subject, an object that identifies no one is the context of the
        // records below it; a subject's own object makes what is below it its part.
        let pushed = if !identity && !forced && self.in_subject == 0 && self.absorbing == 0 {
            self.push_context(doc, doc_fields, keys, strong)
        } else {
            0
        };
        let subject = opened && identity;
        self.in_subject += usize::from(subject);
        let scalars_say_nothing = self.forced.is_empty() && self.depth < self.limits.max_depth;
        for (i, m) in fields.iter().enumerate() {
            let (info, k) = keys[i];
            if info.kind == Some(FieldKind::NotPersonal)
                || (info.kind.is_none() && scalars_say_nothing && m.is_scalar())
            {
                continue;
            }
            let v = &m.value();
            let mark = self.ptr.len();
            self.ptr.push('/');
            if info.plain {
                self.ptr.push_str(k);
            } else {
                escape_into(&mut self.ptr, k);
            }
            // Under `by_country`, each key is the context of the records under it.
            let group = grouped && matches!(v, Node::Obj(_) | Node::Arr(_));
            if group {
                self.push_group(k);
            }
            let r = if !self.ignored.is_empty() && self.ignored.contains(self.ptr.as_str()) {
                Ok(())
            } else {
                match info.kind {
                    Some(FieldKind::NotPersonal) => Ok(()),
                    Some(kind) => self.classified(doc, kind, v, rec),
                    None if info.groups && matches!(v, Node::Obj(_)) => {
                        self.grouped = true;
                        self.value(doc, v, rec)
                    }
                    None if info.version => {
                        self.versions += 1;
                        let r = self.value(doc, v, rec);
                        self.versions -= 1;
                        r
                    }
                    None => self.value(doc, v, rec),
                }
            };
            if group {
                self.pop_context(1);
            }
            self.ptr.truncate(mark);
            r?;
        }
        self.in_subject -= usize::from(subject);
        self.pop_context(pushed);
        if opened && let Some(r) = rec {
            self.close(r);
        }
        Ok(())
    }

    fn classified(
        &mut self,
        doc: &Doc<'_>,
        kind: FieldKind,
        v: &Node,
        rec: Option<usize>,
    ) -> Result<(), InspectError> {
        match v {
            Node::Null => self.classified_scalar(kind, Scalar::Null, rec),
            Node::Bool(b) => self.classified_scalar(kind, Scalar::Bool(*b), rec),
            Node::Num(n) => self.classified_scalar(kind, Scalar::Num(*n), rec),
            Node::Str(t) => self.classified_scalar(kind, Scalar::Str(doc.text(*t)), rec),
            Node::Arr(items) => {
                for (i, it) in doc.items(*items).iter().enumerate() {
                    let mark = self.ptr.len();
                    push_index(&mut self.ptr, i);
                    let r = self.classified(doc, kind, &it, rec);
                    self.ptr.truncate(mark);
                    r?;
                }
                Ok(())
            }
            Node::Obj(_) => {
                // An object under a signal field holds its value in named members.
                if signal_field(kind) {
                    self.value_of = Some(kind);
                }
                if kind.is_personal() && kind != FieldKind::Name && has_data(doc, v) {
                    let r = self.ensure(rec)?;
                    let pointer = Pointer::from(self.ptr.as_str());
                    self.slot(r)?.personal.push(PersonalField { kind, pointer });
                    let res = self.value(doc, v, Some(r));
                    if rec.is_none() {
                        self.close(r);
                    }
                    res
                } else {
                    self.value(doc, v, rec)
                }
            }
        }
    }

    /// A null, boolean, number or string under a classified field name.
    #[inline(always)]
    fn classified_scalar(
        &mut self,
        kind: FieldKind,
        v: Scalar<'_>,
        rec: Option<usize>,
    ) -> Result<(), InspectError> {
        match v {
            Scalar::Null | Scalar::Bool(_) => Ok(()),
            Scalar::Str(s) if blank(s) => Ok(()),
            Scalar::Str(s) => {
                self.check_len(s)?;
                self.fact(kind, s, rec)
            }
            Scalar::Num(n) => {
                if context::number_is_signal(kind) {
                    // A number in a signal field is read as one (`"country": 276` is ISO
                    // 3166-1 numeric); one with no integer reading (`1.5`) is unreadable,
                    // but under a coordinate's key.
                    self.fact(kind, &context::number_text(kind, n), rec)
                } else if kind.is_personal() {
                    self.fact(kind, "", rec)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// A scalar under a classified field name.
    fn fact(
        &mut self,
        kind: FieldKind,
        value: &str,
        rec: Option<usize>,
    ) -> Result<(), InspectError> {
        if kind == FieldKind::Name && rec.is_none() {
            return Ok(()); // a lone name (a product's, a channel's) is no subject
        }
        let r = self.ensure(rec)?;
        let signal = context::signal_kind(kind, value);
        if kind.is_personal() {
            let pointer = Pointer::from(self.ptr.as_str());
            self.slot(r)?.personal.push(PersonalField { kind, pointer });
        }
        if let Some(kind) = signal
            && !value.is_empty()
        {
            let pointer = Pointer::from(self.ptr.as_str());
            self.slot(r)?.signals.push(RawSignal {
                kind,
                pointer,
                value: CompactString::from(value),
            });
        }
        // A value under another personal field may still hide more (a phone in an
        // address, an IP in a note): scan it as text too.
        if !matches!(
            kind,
            FieldKind::Phone
                | FieldKind::Ip
                | FieldKind::Country
                | FieldKind::Locale
                | FieldKind::TimeZone
                | FieldKind::CallingCode
                | FieldKind::Email
        ) && !value.is_empty()
        {
            self.free_text(value, Some(r))?;
        }
        if rec.is_none() {
            self.close(r);
        }
        Ok(())
    }

    fn check_len(&self, s: &str) -> Result<(), InspectError> {
        if s.len() > self.limits.max_string_bytes {
            return Err(InspectError::Limit {
                name: "max_string_bytes",
                max: self.limits.max_string_bytes,
            });
        }
        Ok(())
    }

    fn string(&mut self, s: &str, ctx: Option<usize>) -> Result<(), InspectError> {
        self.check_len(s)?;
        let t = crate::trim(s);
        // A JSON Web Token: its header and payload are JSON, inspected as records.
        if let Some(parts) = super::embedded::jwt(t) {
            for (part, name) in parts.iter().zip(["#jwt/header", "#jwt/payload"]) {
                self.embedded(part, name, ctx)?;
            }
            return self.free_text(s, ctx);
        }
        // A `data:` URL's text or JSON.
        if let Some(text) = super::embedded::data_url(t) {
            return self.embedded(&text, "#data", ctx);
        }
        // Base64 / base64url whose bytes are JSON or text: inspect what it carries.
        if let Some(decoded) = base64_text(t) {
            self.embedded(&decoded, "#base64", ctx)?;
            // The encoded form is scanned too (an email in a token is still an email).
            return self.free_text(s, ctx);
        }
        // URL-encoded JSON (`%7B%22text%22...`), as chat APIs send message blocks.
        if t.len() > 3 && {
            let head = &t.as_bytes()[..3];
            head.eq_ignore_ascii_case(b"%7B") || head.eq_ignore_ascii_case(b"%5B")
        } {
            let decoded: String = text::percent_decode(t);
            if decoded != t {
                return self.string(&decoded, ctx);
            }
        }
        let looks_json =
            (t.starts_with('{') && t.ends_with('}')) || (t.starts_with('[') && t.ends_with(']'));
        if looks_json {
            match json::parse(t.as_bytes()) {
                Ok(inner) => return self.nested("#", |w| w.value(&inner, &inner.root, ctx)),
                Err(e @ (JsonError::TooDeep | JsonError::TooLarge)) => return Err(from_json(e)),
                Err(JsonError::Invalid { .. }) => {}
            }
        }
        // An XML element or a GraphQL document (a SOAP payload, a request's `query`): its
        // structure as records, every value in it scanned as prose, as embedded JSON is.
        if let Some((marker, json)) = super::formats::embedded(t, self.limits.max_depth)? {
            return self.embedded(&json, marker, ctx);
        }
        self.free_text(s, ctx)
    }

    /// A form inside a string: its pairs, walked as a form body's are, in `ctx`, under
    /// `#form`.
    fn form_in_string(&mut self, t: &str, ctx: Option<usize>) -> Result<(), InspectError> {
        self.nested("#form", |w| w.form_in(crate::trim(t).as_bytes(), ctx))
    }

    /// A string found encoded inside another, inspected as a string under `marker`.
    fn embedded(&mut self, s: &str, marker: &str, ctx: Option<usize>) -> Result<(), InspectError> {
        self.nested(marker, |w| w.string(s, ctx))
    }

    /// Runs `f` one level of embedding deeper (refused past [`MAX_EMBEDDING`]), with
    /// `marker` appended to the pointer.
    fn nested(
        &mut self,
        marker: &str,
        f: impl FnOnce(&mut Self) -> Result<(), InspectError>,
    ) -> Result<(), InspectError> {
        if self.embedding >= MAX_EMBEDDING {
            return Err(InspectError::EmbeddingTooDeep(MAX_EMBEDDING));
        }
        let mark = self.ptr.len();
        self.ptr.push_str(marker);
        self.embedding += 1;
        let r = f(self);
        self.embedding -= 1;
        self.ptr.truncate(mark);
        r
    }

    fn free_text(&mut self, s: &str, ctx: Option<usize>) -> Result<(), InspectError> {
        let ipv4 = self.versions == 0;
        let hits = if s.len() >= memo::MIN_BYTES {
            self.scans
                .get_or_insert_default()
                .hits(s, ipv4, |s| text::scan_with(s, ipv4))
        } else {
            text::scan_with(s, ipv4)
        };
        if hits.is_empty() {
            return Ok(());
        }
        // A form in a string (`"email=..&country=DE"`, a webhook's payload; the scan's
        // byte pass saw its `=`) is read as a form only, as JSON in a string is read as
        // JSON: its values are prose in turn (a prose hit beside them would be a record
        // of its own, with no signal).
        if hits.iter().any(|h| h.kind == TextHitKind::Lines)
            && let Some((marker, json)) =
                super::formats::lines(crate::trim(s), self.limits.max_depth)?
        {
            return self.embedded(&json, marker, ctx);
        }
        if let Some(form) = hits.iter().find(|h| h.kind == TextHitKind::Form) {
            return self.form_in_string(&form.value.clone(), ctx);
        }
        let r = self.ensure(ctx)?;
        for h in hits {
            let (kind, signal) = match h.kind {
                // (read above)
                TextHitKind::Form | TextHitKind::Lines => continue,
                TextHitKind::Email => (FieldKind::Email, None),
                TextHitKind::Phone => (FieldKind::Phone, Some(SignalKind::TextPhone)),
                TextHitKind::Ip => (FieldKind::Ip, Some(SignalKind::TextIp)),
                TextHitKind::Id(ids::IdKind::Card) => (FieldKind::PaymentCard, None),
                TextHitKind::Id(kind) => (
                    FieldKind::DocumentNumber,
                    // (every other kind names a country: see `ids`)
                    ids::read(&h.value)
                        .filter(|i| i.kind == kind && i.country.is_some())
                        .map(|_| SignalKind::Identifier),
                ),
            };
            let pointer = Pointer::from(self.ptr.as_str());
            let raw = self.slot(r)?;
            if let Some(kind) = signal {
                raw.signals.push(RawSignal {
                    kind,
                    pointer: pointer.clone(),
                    value: CompactString::from(h.value),
                });
            }
            raw.personal.push(PersonalField { kind, pointer });
        }
        if ctx.is_none() {
            self.close(r);
        }
        Ok(())
    }
}

/// The text a base64 or base64url string carries, if it carries text: at least 16
/// characters of the alphabet, decoding to valid UTF-8 that is mostly printable. Line
/// breaks and other ASCII whitespace may wrap it at any width (MIME wraps at 76) once a
/// first run of 16 characters shows it is no sentence.
fn base64_text(t: &str) -> Option<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || b"+/-_=".contains(&b);
    if t.len() < 16 {
        return None;
    }
    let first_run = t.bytes().take_while(|b| alphabet(*b)).count();
    let unwrapped: std::borrow::Cow<'_, str> = if first_run == t.len() {
        t.into()
    } else if (first_run >= 16
        || (first_run >= 4
            && t.as_bytes()[first_run].is_ascii_whitespace()
            && evenly_wrapped(t, first_run)))
        && t.bytes().all(|b| alphabet(b) || b.is_ascii_whitespace())
    {
        t.split_ascii_whitespace().collect::<String>().into()
    } else {
        return None;
    };
    // Hex ids and plain words are in the alphabet too, but decode to binary noise.
    let bytes = [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(unwrapped.as_bytes()).ok())?;
    let text = String::from_utf8(decompressed(bytes)?).ok()?;
    let printable = text
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .count();
    (printable * 10 >= text.chars().count() * 9 && text.chars().any(|c| c.is_alphabetic()))
        .then_some(text)
}

/// Bytes that are gzip, zlib or zstd (by their magic numbers), decompressed (to 1 MiB
/// at most; `None` past it or when corrupt); other bytes as they are.
fn decompressed(bytes: Vec<u8>) -> Option<Vec<u8>> {
    let coding = match bytes.as_slice() {
        [0x1f, 0x8b, ..] => "gzip",
        [0x78, 0x01 | 0x5e | 0x9c | 0xda, ..] => "deflate",
        [0x28, 0xb5, 0x2f, 0xfd, ..] => "zstd",
        _ => return Some(bytes),
    };
    super::decode::decode(Some(coding), &bytes, 1 << 20)
        .ok()
        .map(|d| d.into_owned())
}

/// Runs of `width` (three runs at least, the last no longer), as base64 wrapped at a
/// narrow width is written (`eyJlbWFp bCI6Imx1...`), and words of prose are not: it
/// stops at the first run of another width.
fn evenly_wrapped(t: &str, width: usize) -> bool {
    let mut runs = t.split_ascii_whitespace().map(str::len).peekable();
    let mut n = 0;
    while let Some(w) = runs.next() {
        n += 1;
        let last = runs.peek().is_none();
        if (!last && w != width) || w > width {
            return false;
        }
    }
    n >= 3
}

/// Appends the pointer token of array index `i` (`/12`), without allocating.
fn push_index(ptr: &mut String, i: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = i;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    ptr.push('/');
    ptr.extend(digits[at..].iter().map(|&d| char::from(d)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::fields::FieldTable;

    fn profile() -> Profile {
        Profile::named("default")
    }

    fn walk(json: &str) -> Vec<RawRecord> {
        let fields = FieldTable::with_defaults(true);
        let p = profile();
        let mut w = Walker::new(&fields, &p, Limits::default());
        w.document(json.as_bytes()).unwrap();
        w.finish()
    }

    fn kinds(r: &RawRecord) -> Vec<&'static str> {
        r.personal.iter().map(|p| p.kind.as_str()).collect()
    }

    #[test]
    fn base64_wrapped_at_any_width_is_read() {
        use base64::Engine;
        let inner = r#"{"email":"a@example.org","nationality":"DE"}"#;
        let b64 = base64::engine::general_purpose::STANDARD.encode(inner);
        for sep in ["\n", "\r\n", " "] {
            for width in [16, 20, 76] {
                let wrapped: Vec<&str> = b64
                    .as_bytes()
                    .chunks(width)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect();
                let doc = serde_json::json!({"blob": wrapped.join(sep)}).to_string();
                let r = walk(&doc);
                let vals: Vec<&str> = r
                    .iter()
                    .flat_map(|r| r.signals.iter().map(|s| s.value.as_str()))
                    .collect();
                assert_eq!(vals, ["DE"], "{sep:?} {width}");
            }
        }
        // a sentence of short words in the alphabet is no base64
        assert_eq!(base64_text("so this is just a sentence of words"), None);
        assert_eq!(base64_text("short words then a run of text"), None);
    }

    /// Each record's pointer and its signals' (pointer, value).
    fn signals_of(json: &str) -> Vec<(String, Vec<(String, String)>)> {
        walk(json)
            .iter()
            .map(|r| {
                let s = r
                    .signals
                    .iter()
                    .map(|s| (s.pointer.to_string(), s.value.to_string()))
                    .collect();
                (r.pointer.to_string(), s)
            })
            .collect()
    }

    #[test]
    fn a_context_gives_the_records_below_it_its_signals() {
        let users = r#"[{"email":"a@example.org","ip":"8.8.8.8"},{"email":"b@example.org"}]"#;
        let before = format!(r#"{{"country":"DE","users":{users}}}"#);
        let after = format!(r#"{{"users":{users},"country":"DE"}}"#);
        for doc in [&before, &after] {
            let r = signals_of(doc);
            let c = ("/country".to_string(), "DE".to_string());
            let ip = ("/users/0/ip".to_string(), "8.8.8.8".to_string());
            assert!(
                r.contains(&("/users/0".into(), vec![c.clone(), ip])),
                "{r:?}"
            );
            assert!(r.contains(&("/users/1".into(), vec![c.clone()])), "{r:?}");
        }
        // JSON:API: `meta` beside `attributes`; a query-like envelope of its own
        let r = signals_of(
            r#"{"data":{"type":"people","attributes":{"email":"a@example.org"},"meta":{"locale":"de-DE"}}}"#,
        );
        assert!(
            r.contains(&(
                "/data/attributes".into(),
                vec![("/data/meta/locale".into(), "de-DE".into())]
            )),
            "{r:?}"
        );
        // A subject's own fields are no context of the subjects nested in it.
        let r = signals_of(
            r#"{"email":"a@example.org","country":"GB","reported_user":{"email":"b@example.org","team":{"locale":"de-DE","members":[{"email":"c@example.org"}]}}}"#,
        );
        assert!(
            r.contains(&(
                "/reported_user".into(),
                vec![("/reported_user/team/locale".into(), "de-DE".into())]
            )),
            "{r:?}"
        );
        assert!(
            r.contains(&("/reported_user/team/members/0".into(), vec![])),
            "{r:?}"
        );
    }

    #[test]
    fn a_list_or_a_value_object_on_a_container_is_context() {
        let r = signals_of(
            r#"{"countries":["DE",{"code":"FR"}],"meta":{"country":{"code":"AT","flag":"x"}},"users":[{"email":"a@example.org"}]}"#,
        );
        assert!(
            r.contains(&(
                "/users/0".into(),
                vec![
                    ("/countries/0".into(), "DE".into()),
                    ("/countries/1/code".into(), "FR".into()),
                    ("/meta/country/code".into(), "AT".into())
                ]
            )),
            "{r:?}"
        );
    }

    #[test]
    fn a_grouping_key_gives_each_group_its_country() {
        let r = signals_of(
            r#"{"report":"leads","by_country":{"DE":[{"email":"a@example.org"}],"US":{"top":{"email":"b@example.org","ip":"8.8.8.8"}}}}"#,
        );
        assert!(
            r.contains(&(
                "/by_country/DE/0".into(),
                vec![("/by_country/DE".into(), "DE".into())]
            )),
            "{r:?}"
        );
        assert!(
            r.contains(&(
                "/by_country/US/top".into(),
                vec![
                    ("/by_country/US".into(), "US".into()),
                    ("/by_country/US/top/ip".into(), "8.8.8.8".into())
                ]
            )),
            "{r:?}"
        );
    }

    #[test]
    fn key_value_pairs_are_the_fields_they_name() {
        let r = signals_of(
            r#"{"email":"a@example.org","ip":"8.8.8.8","custom_fields":[{"key":"nationality","value":"DE"},{"value":"Europe/Berlin","name":"time_zone"},{"key":"plan","value":"gold"}]}"#,
        );
        assert_eq!(r.len(), 1, "{r:?}");
        let values: Vec<&str> = r[0].1.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(values, ["8.8.8.8", "DE", "Europe/Berlin"], "{r:?}");
        assert_eq!(r[0].1[1].0, "/custom_fields/0/value");
        // `name` in a pair names the field: it is no person's name
        let w = walk(r#"{"name":"country","value":"DE"}"#);
        assert!(w.iter().all(|r| r.personal.is_empty()), "{w:?}");
    }

    #[test]
    fn duplicate_keys_all_count() {
        let r = walk(r#"{"email":"a@example.org","country":"US","country":"DE"}"#);
        assert_eq!(r.len(), 1);
        let vals: Vec<&str> = r[0].signals.iter().map(|s| s.value.as_str()).collect();
        assert_eq!(vals, ["US", "DE"]);
    }

    #[test]
    fn nested_parts_attach_and_nested_subjects_split() {
        let r = walk(
            r#"{"report":"x","reporter":{"email":"a@example.org","device":{"device_id":"D1"},"prefs":{"locale":"en-GB"}},
                "reported":{"phone":"+1 212 555 0183","doc":{"passport_number":"X1","issuing_country":"US"}}}"#,
        );
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].pointer, "/reporter");
        assert_eq!(kinds(&r[0]), ["email", "device_id"]);
        assert_eq!(r[0].signals[0].pointer, "/reporter/prefs/locale");
        assert_eq!(r[1].pointer, "/reported");
        assert_eq!(r[1].signals.len(), 2);
    }

    #[test]
    fn array_elements_are_subjects() {
        let r = walk(r#"{"users":[{"email":"a@example.org"},{"email":"b@example.org"}]}"#);
        let p: Vec<&str> = r.iter().map(|r| r.pointer.as_str()).collect();
        assert_eq!(p, ["/users/0", "/users/1"]);
    }

    #[test]
    fn a_lone_name_is_not_a_subject() {
        assert!(walk(r#"{"product":{"name":"Widget","country_of_origin":"CN"}}"#).is_empty());
        assert_eq!(walk(r#"{"name":"Ann","email":"a@example.org"}"#).len(), 1);
    }

    #[test]
    fn embedded_json_and_free_text() {
        let r = walk(r#"{"content":"{\"text\":\"mail me: a@example.org or +44 20 7946 0321\"}"}"#);
        assert_eq!(r.len(), 1);
        // The embedded object has no field of its own: the text is the record.
        assert_eq!(r[0].pointer, "/content#/text");
        assert_eq!(r[0].personal[0].pointer, "/content#/text");
        assert_eq!(kinds(&r[0]), ["email", "phone"]);
    }

    #[test]
    fn url_encoded_json_and_forms() {
        let fields = FieldTable::with_defaults(true);
        let p = profile();
        let mut w = Walker::new(&fields, &p, Limits::default());
        w.form(b"to=x&phone=%2B44+20+7946+0321&phone=%2B1+212+555+0183&blocks=%255B%257B%2522t%2522%253A%2522a%2540example.org%2522%257D%255D")
            .unwrap();
        let r = w.finish();
        // The form has a phone field, so it is one record; the block belongs to it.
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].signals.len(), 2, "both values of a repeated key count");
        assert_eq!(r[0].personal[2].pointer, "/blocks#/0/t");
    }

    #[test]
    fn selectors_force_and_ignore() {
        // Evaluated on our own tree (names; filters), and (with a function) on
        // serde_json's: the same.
        for (records, ignore, on_tree) in [
            ("$.msg", "$.debug", true),
            (
                "$[?@.a == 'x@example.org']",
                "$[?@ == 'z@example.org']",
                true,
            ),
            (
                "$[?@.a == 'x@example.org' && length(@.b) == 2]",
                "$[?@ == 'z@example.org' && length(@) == 13]",
                false,
            ),
        ] {
            let mut p = Profile::named("p");
            p.records = vec![Selector::parse(records).unwrap()];
            p.ignore = vec![Selector::parse(ignore).unwrap()];
            assert!(
                p.records
                    .iter()
                    .chain(&p.ignore)
                    .all(|s| s.on_tree() == on_tree)
            );
            selectors_force_and_ignore_with(&p);
        }
    }

    fn selectors_force_and_ignore_with(p: &Profile) {
        let fields = FieldTable::with_defaults(true);
        let mut w = Walker::new(&fields, p, Limits::default());
        w.document(br#"{"msg":{"a":"x@example.org","b":{"c":"+44 20 7946 0321","email":"y@example.org"}},"debug":"z@example.org"}"#)
            .unwrap();
        let r = w.finish();
        // b has its own email, so without the selector it would split off; the selector
        // keeps `msg` as one record. `debug` is not inspected.
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].pointer, "/msg");
        assert!(
            r.iter()
                .all(|r| r.personal.iter().all(|p| !p.pointer.starts_with("/debug")))
        );
        // On a profile with selectors (those run on serde_json's tree run before the
        // body's own tree is built), a body that is not JSON, or nests too deep, is
        // refused for that reason, as without.
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        for (body, want) in [
            (&b"{\"msg\":"[..], "invalid_json"),
            (b"{\"msg\": 1} x", "invalid_json"),
            (deep.as_bytes(), "nesting_too_deep"),
        ] {
            let mut w = Walker::new(&fields, p, Limits::default());
            assert_eq!(w.document(body).map_err(|e| e.reason()), Err(want));
        }
    }

    #[test]
    fn repeated_shapes_keep_escapes_and_version_keys() {
        // The second and third objects are classified from the key cache.
        let r = walk(
            r#"[{"email":"a@example.org","contact/work":"+44 20 7946 0321","app_version":"4.2.1.9","m~x":"8.8.8.8"},
                {"email":"b@example.org","contact/work":"+44 20 7946 0322","app_version":"8.8.4.4","m~x":"1.1.1.1"},
                {"email":"c@example.org","contact/work":"+44 20 7946 0323","app_version":"81.2.69.142","m~x":"9.9.9.9"}]"#,
        );
        assert_eq!(r.len(), 3, "{r:?}");
        for (i, rec) in r.iter().enumerate() {
            let ptrs: Vec<&str> = rec.personal.iter().map(|p| p.pointer.as_str()).collect();
            assert_eq!(
                ptrs,
                [
                    format!("/{i}/email"),
                    format!("/{i}/contact~1work"),
                    format!("/{i}/m~0x")
                ],
                "{rec:?}"
            );
            // A dotted quad under a version key is a version, not an address.
            let kinds: Vec<SignalKind> = rec.signals.iter().map(|s| s.kind).collect();
            assert_eq!(
                kinds,
                [SignalKind::TextPhone, SignalKind::TextIp],
                "{rec:?}"
            );
        }
    }

    #[test]
    fn key_classes_are_cached_per_field_table() {
        // Walkers on one thread share a cache of classified keys; a table with other
        // names (a reloaded policy) must not be answered from another table's cache.
        let p = profile();
        let plain = FieldTable::with_defaults(true);
        let mut custom = plain.clone();
        custom.insert("handle", FieldKind::Email);
        assert_ne!(plain.id(), custom.id());
        let body = br#"{"handle":"someone","plan":"free"}"#;
        let walk_with = |t: &FieldTable| {
            let mut w = Walker::new(t, &p, Limits::default());
            w.document(body).unwrap();
            w.finish()
        };
        for _ in 0..3 {
            let r = walk_with(&custom);
            assert_eq!(r.len(), 1, "{r:?}");
            assert_eq!(kinds(&r[0]), ["email"]);
            assert!(walk_with(&plain).is_empty());
        }
    }

    #[test]
    fn a_scalar_past_the_depth_limit_is_refused() {
        // Scalars that say nothing are skipped without being entered, but not past the
        // limit: the document is refused whatever the deepest value is.
        let fields = FieldTable::with_defaults(true);
        let p = profile();
        let limits = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        for (body, too_deep) in [
            (r#"{"a":{"b":{"c":1}}}"#, true),
            (r#"{"a":{"b":{"c":null}}}"#, true),
            (r#"{"a":{"b":{}}}"#, false),
            (r#"{"a":{"c":true}}"#, false),
        ] {
            let mut w = Walker::new(&fields, &p, limits);
            assert_eq!(
                w.document(body.as_bytes()) == Err(InspectError::TooDeep),
                too_deep,
                "{body}"
            );
        }
    }

    #[test]
    fn embedding_is_bounded() {
        let mut s = String::from(r#"{"e":"a@example.org"}"#);
        for _ in 0..(MAX_EMBEDDING + 1) {
            s = serde_json::to_string(&serde_json::json!({ "x": s })).unwrap();
        }
        let fields = FieldTable::with_defaults(true);
        let p = profile();
        let mut w = Walker::new(&fields, &p, Limits::default());
        assert_eq!(
            w.document(s.as_bytes()),
            Err(InspectError::EmbeddingTooDeep(MAX_EMBEDDING))
        );
    }

    /// Records reach a sink as the walk closes them, innermost first, each once; put
    /// back in index order they are exactly the records a walk without a sink returns.
    #[test]
    fn records_reach_a_sink_as_they_close() {
        let body = r#"{
            "reporter": {"email": "a@example.org", "country": "GB",
                         "friend": {"email": "b@example.org", "ip": "8.8.8.8"}},
            "note": "call +44 20 7946 0321",
            "users": [{"email": "c@example.org", "address": {"city": "Paris", "phone": "+33 1 42 68 53 00"}},
                      {"email": "d@example.org", "locale": "de-DE"}],
            "contact": {"phone": "+1 415 555 0112"}
        }"#;
        let fields = FieldTable::with_defaults(true);
        let p = profile();
        let mut sunk: Vec<(usize, RawRecord)> = Vec::new();
        let mut w = Walker::new(&fields, &p, Limits::default()).with_sink(&mut sunk);
        w.document(body.as_bytes()).unwrap();
        assert_eq!(w.found(), 7);
        assert!(w.finish().is_empty(), "with a sink, finish keeps nothing");
        let order: Vec<(usize, &str)> =
            sunk.iter().map(|(i, r)| (*i, r.pointer.as_str())).collect();
        // A nested subject closes before the record around it, which opened first.
        assert_eq!(
            order,
            [
                (1, "/reporter/friend"),
                (0, "/reporter"),
                (2, "/note"),
                (4, "/users/0/address"),
                (3, "/users/0"),
                (5, "/users/1"),
                (6, "/contact"),
            ]
        );
        assert_eq!(kinds(&sunk[0].1), ["email", "ip"]);
        assert_eq!(kinds(&sunk[4].1), ["email", "address"]);
        sunk.sort_by_key(|(i, _)| *i);
        let sunk: Vec<RawRecord> = sunk.into_iter().map(|(_, r)| r).collect();
        assert_eq!(sunk, walk(body));
    }

    /// A record is written to only while its value is being walked. Were a closed one
    /// written to, the request is refused (`internal_error`), not its data dropped.
    #[test]
    fn a_closed_record_is_never_written_to() {
        let fields = FieldTable::with_defaults(true);
        let p = profile();
        let mut sunk: Vec<(usize, RawRecord)> = Vec::new();
        let mut w = Walker::new(&fields, &p, Limits::default()).with_sink(&mut sunk);
        let r = w.new_record().unwrap();
        w.fact(FieldKind::Email, "a@example.org", Some(r)).unwrap();
        w.close(r);
        assert_eq!(
            w.fact(FieldKind::Email, "b@example.org", Some(r)),
            Err(InspectError::Internal("a closed record was written to"))
        );
        w.close(r); // closing twice hands nothing on twice
        drop(w);
        assert_eq!(sunk.len(), 1);
        assert_eq!(kinds(&sunk[0].1), ["email"]);
        assert_eq!(
            InspectError::Internal("x").reason(),
            "internal_error",
            "a named reason, counted like any other"
        );
    }
}
