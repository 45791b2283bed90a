//! The record walk of a JSON document read as a stream of tokens, without its tree.
//!
//! The walker decides whether an object is a record from the object's own fields, before
//! walking its children: a field named later may decide it (`{"address": {...},
//! "email": ...}`). So the document is read twice. The first reading notes, for each
//! container in the order they open, what that decision needs: whether anything below it
//! is data, and for an object whether its fields make it a record of its own (one byte
//! per container). The second reading walks the tokens as the tree walk walks the tree,
//! taking each decision from that table when the container opens: the same records, in
//! the same order, with the same pointers, and the same first error.
//!
//! It holds the body, the table, and the walk's own state (the containers open, the
//! records open): a document of many tiny values costs about its own size, where its tree
//! costs up to 12x. A test and the `inspect` fuzz target compare the two walks.

use std::convert::Infallible;

use compact_str::CompactString;

use super::RawRecord;
use super::context::{self, Relative};
use super::kv;
use super::{KeyInfo, Walker, escape_into, push_index, scalar_has_data};
use crate::extract::fields::{FieldKind, FieldTable};
use crate::extract::json::{self, Events, Scalar};
use crate::extract::{InspectError, PersonalField, Pointer};
use crate::policy::compile::{Limits, Profile};

/// Something below the container is data (see `has_data`).
const DATA: u8 = 1;
/// An object's own fields carry a signal or personal data.
const STRONG: u8 = 2;
/// An object's own fields identify a subject (an email, a phone, a name beside other
/// personal data).
const IDENTITY: u8 = 4;

/// Walks the JSON document `body` without building its tree. `None` when it is not for
/// the scan (not UTF-8, an error, an integer past u64::MAX, deep nesting...): the caller
/// then reads it with [`json::parse`], whose errors are serde_json's.
pub(super) fn walk(w: &mut Walker<'_>, body: &[u8]) -> Option<Result<(), InspectError>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut shapes = Shapes {
        walker: w,
        table: Vec::new(),
        open: Vec::new(),
        contexts: Vec::new(),
        pairs: Vec::new(),
    };
    match json::stream(text, &mut shapes) {
        Ok(true) => {}
        Ok(false) => return None,
        Err(never) => match never {},
    }
    let table = shapes.table;
    let mut contexts = shapes.contexts;
    contexts.sort_unstable_by_key(|(at, _)| *at);
    let mut pairs = shapes.pairs;
    pairs.sort_unstable_by_key(|(at, _)| *at);
    let mut walk = Walk {
        w,
        table: &table,
        contexts: &contexts,
        next_context: 0,
        pairs: &pairs,
        next_pair: 0,
        next: 0,
        open: Vec::new(),
    };
    Some(match json::stream(text, &mut walk) {
        Ok(true) => Ok(()),
        // The first reading took the document whole: the second cannot stop short.
        Ok(false) => Err(InspectError::Internal(
            "a document read once could not be read again",
        )),
        Err(e) => Err(e),
    })
}

/// The first reading: each container's byte of [`DATA`], [`STRONG`], [`IDENTITY`], and
/// the context signals of the objects that have some (see `context`), by their place
/// in the table.
struct Shapes<'a, 'p> {
    walker: &'a mut Walker<'p>,
    table: Vec<u8>,
    open: Vec<Shape>,
    contexts: Vec<(usize, Vec<Relative>)>,
    /// The key/value objects (see `kv`) and their values' kinds, by place in the table.
    pairs: Vec<(usize, FieldKind)>,
}

/// A container open in the first reading.
struct Shape {
    /// Its byte in the table.
    at: usize,
    object: bool,
    /// Members (or elements) read so far.
    members: usize,
    /// The kind of the current member's key, and the key.
    kind: Option<FieldKind>,
    key: CompactString,
    /// The value of a signal field of this kind (an object), or the elements' kind
    /// (an array under a signal field).
    value_of: Option<FieldKind>,
    /// Its own scalar signal fields, and its child contexts' (relative to it).
    own: Vec<Relative>,
    children: Vec<Relative>,
    /// Its string members, for a key/value object.
    seen: kv::Seen,
    data: bool,
    name: bool,
    strong: bool,
    identity: bool,
}

impl Shapes<'_, '_> {
    /// A value below the innermost open container ended; `data`: whether it was data.
    /// As `Walker::object` reads its fields before walking them.
    fn value_ended(&mut self, data: bool) {
        let Some(c) = self.open.last_mut() else {
            return;
        };
        c.data |= data;
        if !c.object || !data {
            return;
        }
        if let Some(kind) = c.kind {
            context::shape(&mut c.strong, &mut c.identity, &mut c.name, kind);
        }
    }

    /// Object `c` closed: when it is a key/value pair, its shape is its value's under
    /// the kind the pair names (as `Walker::object` reads it), and the walk is told.
    fn pair_closed(&mut self, c: &mut Shape) {
        let seen = std::mem::take(&mut c.seen);
        let Some((kind, value, key)) = seen.decide(self.walker.fields, c.members) else {
            return;
        };
        (c.strong, c.identity, c.name) = (false, false, false);
        if scalar_has_data(Scalar::Str(&value)) {
            context::shape(&mut c.strong, &mut c.identity, &mut c.name, kind);
        }
        c.own = context::scalar_signal(kind, Scalar::Str(&value))
            .map(|(kind, value)| {
                Relative {
                    rel: CompactString::default(),
                    kind,
                    value,
                }
                .under(&key)
            })
            .into_iter()
            .collect();
        self.pairs.push((c.at, kind));
    }

    /// A scalar in a list or a value object under a signal field, up to two levels
    /// below it (`"countries": ["DE"]`, `"country": {"code": "DE"}`,
    /// `[{"code": "DE"}]`), is also the signal of the object holding that field, as
    /// `context::push_value` reads it: for each such owner, a signal relative to it.
    fn list_or_value_object_member(&mut self, value: Scalar<'_>) {
        let n = self.open.len();
        for chain in 1..=2usize {
            let Some(owner_at) = n.checked_sub(chain + 1) else {
                break;
            };
            let owner = &self.open[owner_at];
            let Some(mut kind) = owner.kind.filter(|_| owner.object) else {
                continue;
            };
            let mut rel = String::new();
            let mut ok = true;
            for c in &self.open[owner_at + 1..] {
                if c.object {
                    let member = super::signal_field(kind)
                        .then(|| crate::extract::fields::member_kind(kind, &c.key))
                        .flatten();
                    let Some(mk) = member else {
                        ok = false;
                        break;
                    };
                    rel.push('/');
                    escape_into(&mut rel, &c.key);
                    kind = mk;
                } else {
                    push_index(&mut rel, c.members.saturating_sub(1));
                }
            }
            if !ok {
                continue;
            }
            if let Some((kind, value)) = context::scalar_signal(kind, value) {
                let owner = &mut self.open[owner_at];
                let r = Relative {
                    rel: rel.into(),
                    kind,
                    value,
                }
                .under(&owner.key);
                owner.own.push(r);
            }
        }
    }

    /// Object `c` closed: note the context it gives (its own signals when it identifies
    /// no one, and its child contexts'), and hand its own to its parent as a child's.
    fn context_closed(&mut self, c: Shape, identity: bool) {
        if identity {
            return;
        }
        let own = if c.strong { c.own } else { Vec::new() };
        if !own.is_empty()
            && let Some(parent) = self.open.last_mut()
            && parent.object
            && parent.kind.is_none()
        {
            let key = parent.key.clone();
            parent
                .children
                .extend(own.iter().cloned().map(|r| r.under(&key)));
        }
        let mut all = own;
        all.extend(c.children);
        if !all.is_empty() {
            self.contexts.push((c.at, all));
        }
    }
}

impl Events for Shapes<'_, '_> {
    type Error = Infallible;

    fn open(&mut self, object: bool) -> Result<(), Infallible> {
        // As `Walker::classified`: a container under a signal field (or in an array
        // under one) holds that field's value.
        let value_of = match self.open.last() {
            Some(p) if p.object => p.kind,
            Some(p) => p.value_of,
            None => None,
        }
        .filter(|k| super::signal_field(*k));
        // (an array's elements are counted, for the pointers of a list's context)
        if let Some(p) = self.open.last_mut()
            && !p.object
        {
            p.members += 1;
        }
        self.open.push(Shape {
            at: self.table.len(),
            object,
            members: 0,
            kind: None,
            value_of,
            key: CompactString::default(),
            own: Vec::new(),
            children: Vec::new(),
            seen: kv::Seen::default(),
            data: false,
            name: false,
            strong: false,
            identity: false,
        });
        self.table.push(0);
        Ok(())
    }

    fn key(&mut self, key: &str) -> Result<(), Infallible> {
        // The walk's depth of this object is about the number of containers open: the
        // key cache then answers the second reading.
        let depth = self.open.len();
        if let Some(c) = self.open.last_mut() {
            let i = c.members;
            c.members += 1;
            c.kind = self.walker.key_info_at(depth, i, key).kind;
            if let Some(kind) = c.value_of
                && c.object
                && let Some(member) = crate::extract::fields::member_kind(kind, key)
            {
                c.kind = Some(member);
            }
            c.key = key.into();
        }
        Ok(())
    }

    fn scalar(&mut self, value: Scalar<'_>) -> Result<(), Infallible> {
        if let Some(c) = self.open.last_mut()
            && !c.object
        {
            c.members += 1;
        }
        if let Some(c) = self.open.last_mut()
            && c.object
            && c.members <= 2
            && let Scalar::Str(s) = value
        {
            c.seen.string(&c.key, s);
        }
        if let Some(c) = self.open.last_mut()
            && c.object
            && let Some(kind) = c.kind
            && let Some((kind, value)) = context::scalar_signal(kind, value)
        {
            c.own.push(
                Relative {
                    rel: CompactString::default(),
                    kind,
                    value,
                }
                .under(&c.key),
            );
        }
        self.list_or_value_object_member(value);
        self.value_ended(scalar_has_data(value));
        Ok(())
    }

    fn close(&mut self) -> Result<(), Infallible> {
        if let Some(mut c) = self.open.pop() {
            if c.object && c.value_of.is_none() {
                self.pair_closed(&mut c);
            }
            let identity =
                (c.identity || (c.name && c.strong)) && !(c.object && c.value_of.is_some());
            let bits = (u8::from(c.data) * DATA)
                | (u8::from(c.strong) * STRONG)
                | (u8::from(identity) * IDENTITY);
            if let Some(b) = self.table.get_mut(c.at) {
                *b = bits;
            }
            let data = c.data;
            if c.object {
                self.context_closed(c, identity);
            }
            self.value_ended(data);
        }
        Ok(())
    }
}

/// What the walk does with the next value, as the tree walk's functions would.
#[derive(Clone, Copy)]
enum Want {
    /// Nothing: not walked (a key classified as not personal, a scalar under a key that
    /// says nothing, anything below such a container).
    Skip,
    /// `Walker::value`, under a version key or not, or a key grouping by country.
    Value {
        ctx: Option<usize>,
        version: bool,
        groups: bool,
    },
    /// `Walker::classified`.
    Classified { kind: FieldKind, rec: Option<usize> },
}

/// What ends with a container, besides its own record.
#[derive(Clone, Copy, Default)]
struct Exit {
    /// It was walked by `Walker::value`, which counted its depth.
    entered: bool,
    /// It was under a version key.
    version: bool,
    /// The record opened for it (a personal object outside any record) to close after it.
    close: Option<usize>,
    /// It is a member of an object under `by_country`: its key was pushed as context.
    grouped: bool,
}

/// A container open in the walk.
enum Open {
    /// Not walked; only its containers are counted.
    Skip,
    Object {
        rec: Option<usize>,
        /// `rec` was opened for this object.
        opened: bool,
        /// A scalar under an unclassified key says nothing here (`Walker::object`).
        say_nothing: bool,
        members: usize,
        /// The current member's key.
        key: KeyInfo,
        /// The pointer's length before the current member.
        mark: usize,
        /// Context signals it pushed, and whether it is a subject's own object.
        pushed: usize,
        subject: bool,
        /// The value of a signal field of this kind (see `Walker::value_of`).
        value_of: Option<FieldKind>,
        /// A key/value object whose value is of this kind (see `kv`).
        pair: Option<FieldKind>,
        /// Under a key grouping by country, with its current member's key.
        grouped: bool,
        member: CompactString,
        exit: Exit,
    },
    Array {
        ctx: Option<usize>,
        /// Under a classified key: each element is `Walker::classified`.
        kind: Option<FieldKind>,
        items: usize,
        mark: usize,
        exit: Exit,
    },
}

/// The second reading: the walk.
struct Walk<'a, 'p> {
    w: &'a mut Walker<'p>,
    table: &'a [u8],
    /// The first reading's contexts, by place in the table, and the next to look at.
    contexts: &'a [(usize, Vec<Relative>)],
    next_context: usize,
    /// The first reading's key/value objects, and the next to look at.
    pairs: &'a [(usize, FieldKind)],
    next_pair: usize,
    /// The next container's place in the table.
    next: usize,
    open: Vec<Open>,
}

impl Walk<'_, '_> {
    /// What to do with the value starting now (a null, boolean or number, or not), and
    /// the pointer to it.
    fn want(&mut self, scalar: bool) -> Want {
        let ptr = &mut self.w.ptr;
        let say_nothing = self.w.depth < self.w.limits.max_depth;
        match self.open.last_mut() {
            None => Want::Value {
                ctx: None,
                version: false,
                groups: false,
            },
            Some(Open::Skip) => Want::Skip,
            Some(Open::Object {
                rec,
                say_nothing,
                key,
                ..
            }) => match key.kind {
                Some(FieldKind::NotPersonal) => Want::Skip,
                None if scalar && *say_nothing => Want::Skip,
                Some(kind) => Want::Classified { kind, rec: *rec },
                None => Want::Value {
                    ctx: *rec,
                    version: key.version,
                    groups: key.groups,
                },
            },
            Some(Open::Array {
                ctx,
                kind,
                items,
                mark,
                ..
            }) => {
                let i = *items;
                *items += 1;
                // A null, boolean or number says nothing, as in `Walker::value_in`.
                if kind.is_none() && scalar && say_nothing {
                    *mark = ptr.len();
                    return Want::Skip;
                }
                *mark = ptr.len();
                push_index(ptr, i);
                match kind {
                    Some(kind) => Want::Classified {
                        kind: *kind,
                        rec: *ctx,
                    },
                    None => Want::Value {
                        ctx: *ctx,
                        version: false,
                        groups: false,
                    },
                }
            }
        }
    }

    /// The kind of the value of the key/value object at `at`, if it is one.
    fn pair(&mut self, at: usize) -> Option<FieldKind> {
        while self.pairs.get(self.next_pair).is_some_and(|(c, _)| *c < at) {
            self.next_pair += 1;
        }
        match self.pairs.get(self.next_pair) {
            Some((c, kind)) if *c == at => Some(*kind),
            _ => None,
        }
    }

    /// Pushes the context the first reading found for the container at `at`.
    fn context(&mut self, at: usize) -> usize {
        while self
            .contexts
            .get(self.next_context)
            .is_some_and(|(c, _)| *c < at)
        {
            self.next_context += 1;
        }
        match self.contexts.get(self.next_context) {
            Some((c, signals)) if *c == at => self.w.push_relative(signals),
            _ => 0,
        }
    }

    /// A value below the innermost open container ended: its pointer goes.
    fn value_ended(&mut self) {
        if let Some(Open::Object { mark, .. } | Open::Array { mark, .. }) = self.open.last() {
            self.w.ptr.truncate(*mark);
        }
    }

    /// A container the walk enters, with `ctx`: `Walker::object`'s decision, taken from
    /// the table, or an array.
    fn begin(
        &mut self,
        object: bool,
        at: usize,
        ctx: Option<usize>,
        exit: Exit,
        value_of: Option<FieldKind>,
        grouped: bool,
    ) -> Result<(), InspectError> {
        let bits = self.table.get(at).copied().unwrap_or(0);
        let open = if object {
            let strong = bits & STRONG != 0;
            let identity = bits & IDENTITY != 0;
            let (rec, opened) = match ctx {
                Some(p) if !identity => (Some(p), false),
                _ if strong => (Some(self.w.new_record()?), true),
                _ => (ctx, false),
            };
            // As `Walker::object`: outside any subject, its context (see `context`).
            let pushed = if !identity && self.w.in_subject == 0 && self.w.absorbing == 0 {
                self.context(at)
            } else {
                0
            };
            let subject = opened && identity;
            self.w.in_subject += usize::from(subject);
            let pair = self.pair(at);
            Open::Object {
                rec,
                opened,
                say_nothing: self.w.depth < self.w.limits.max_depth,
                members: 0,
                key: KeyInfo::default(),
                mark: 0,
                pushed,
                subject,
                value_of,
                pair,
                grouped,
                member: CompactString::default(),
                exit,
            }
        } else {
            Open::Array {
                ctx,
                kind: None,
                items: 0,
                mark: 0,
                exit,
            }
        };
        self.open.push(open);
        Ok(())
    }
}

impl Events for Walk<'_, '_> {
    type Error = InspectError;

    fn open(&mut self, object: bool) -> Result<(), InspectError> {
        let at = self.next;
        let bits = self.table.get(at).copied().unwrap_or(0);
        self.next += 1;
        let want = self.want(false);
        // A member of an object under `by_country`: its key is the context of what is
        // under it (as `Walker::object`).
        let grouped = !matches!(want, Want::Skip)
            && match self.open.last() {
                Some(Open::Object {
                    grouped: true,
                    member,
                    ..
                }) => {
                    let member = member.clone();
                    self.w.push_group(&member);
                    true
                }
                _ => false,
            };
        match want {
            Want::Skip => {
                self.open.push(Open::Skip);
                Ok(())
            }
            Want::Value {
                ctx,
                version,
                groups,
            } => {
                self.w.enter()?;
                self.w.versions += usize::from(version);
                let exit = Exit {
                    entered: true,
                    version,
                    close: None,
                    grouped,
                };
                self.begin(object, at, ctx, exit, None, groups && object)
            }
            Want::Classified { kind, rec } if !object => {
                // `Walker::classified` walks each element, without counting depth.
                self.open.push(Open::Array {
                    ctx: rec,
                    kind: Some(kind),
                    items: 0,
                    mark: 0,
                    exit: Exit {
                        grouped,
                        ..Exit::default()
                    },
                });
                Ok(())
            }
            Want::Classified { kind, rec } => {
                let (ctx, close) =
                    if kind.is_personal() && kind != FieldKind::Name && bits & DATA != 0 {
                        let r = self.w.ensure(rec)?;
                        let pointer = Pointer::from(self.w.ptr.as_str());
                        self.w
                            .slot(r)?
                            .personal
                            .push(PersonalField { kind, pointer });
                        (Some(r), rec.is_none().then_some(r))
                    } else {
                        (rec, None)
                    };
                self.w.enter()?;
                let exit = Exit {
                    entered: true,
                    version: false,
                    close,
                    grouped,
                };
                self.begin(
                    true,
                    at,
                    ctx,
                    exit,
                    Some(kind).filter(|k| super::signal_field(*k)),
                    false,
                )
            }
        }
    }

    fn key(&mut self, name: &str) -> Result<(), InspectError> {
        let depth = self.w.depth;
        let Some(Open::Object {
            members,
            key,
            mark,
            value_of,
            pair,
            grouped,
            member,
            ..
        }) = self.open.last_mut()
        else {
            return Ok(());
        };
        let i = *members;
        *members += 1;
        *key = self.w.key_info_at(depth, i, name);
        if let Some(kind) = *value_of
            && let Some(member) = crate::extract::fields::member_kind(kind, name)
        {
            key.kind = Some(member);
        }
        if let Some(kind) = *pair {
            if kv::holds_the_value(name) {
                key.kind = Some(kind);
            } else if kv::names_a_field(name) {
                key.kind = None;
            }
        }
        if *grouped {
            *member = name.into();
        }
        *mark = self.w.ptr.len();
        if key.kind != Some(FieldKind::NotPersonal) {
            self.w.ptr.push('/');
            if key.plain {
                self.w.ptr.push_str(name);
            } else {
                escape_into(&mut self.w.ptr, name);
            }
        }
        Ok(())
    }

    fn scalar(&mut self, value: Scalar<'_>) -> Result<(), InspectError> {
        // Strings are walked under any key; nulls, booleans and numbers may say nothing.
        let r = match self.want(!matches!(value, Scalar::Str(_))) {
            Want::Skip => Ok(()),
            Want::Value { ctx, version, .. } => self.w.enter().and_then(|()| {
                let r = match value {
                    Scalar::Str(s) => {
                        self.w.versions += usize::from(version);
                        let r = self.w.string(s, ctx);
                        self.w.versions -= usize::from(version);
                        r
                    }
                    _ => Ok(()),
                };
                self.w.depth -= 1;
                r
            }),
            Want::Classified { kind, rec } => self.w.classified_scalar(kind, value, rec),
        };
        self.value_ended();
        r
    }

    fn close(&mut self) -> Result<(), InspectError> {
        let exit = match self.open.pop() {
            Some(Open::Object {
                rec,
                opened,
                pushed,
                subject,
                exit,
                ..
            }) => {
                self.w.in_subject -= usize::from(subject);
                self.w.pop_context(pushed);
                if opened && let Some(r) = rec {
                    self.w.close(r);
                }
                exit
            }
            Some(Open::Array { exit, .. }) => exit,
            Some(Open::Skip) | None => Exit::default(),
        };
        if exit.entered {
            self.w.depth -= 1;
        }
        if exit.grouped {
            self.w.pop_context(1);
        }
        self.w.versions -= usize::from(exit.version);
        if let Some(r) = exit.close {
            self.w.close(r);
        }
        self.value_ended();
        Ok(())
    }
}

/// Walks `body` on its tree and as a stream, and panics unless both hand on the same
/// records (same indexes, same order, same contents) and end the same way (the same
/// error, or none). Returns whether the stream walked it (else the scan left it to
/// serde_json). For tests and the `inspect` fuzz target.
#[doc(hidden)]
pub fn check_walks(fields: &FieldTable, profile: &Profile, limits: Limits, body: &[u8]) -> bool {
    let mut tree_records: Vec<(usize, RawRecord)> = Vec::new();
    let tree = {
        let mut w = Walker::new(fields, profile, limits).with_sink(&mut tree_records);
        let r = w.tree_document(body);
        (r, w.found())
    };
    let mut stream_records: Vec<(usize, RawRecord)> = Vec::new();
    let streamed = {
        let mut w = Walker::new(fields, profile, limits).with_sink(&mut stream_records);
        w.streamed(body).map(|r| (r, w.found()))
    };
    let Some(streamed) = streamed else {
        return false;
    };
    assert_eq!(tree.0, streamed.0, "the walks ended otherwise");
    assert_eq!(
        tree.1, streamed.1,
        "the walks found a different number of records"
    );
    assert_eq!(
        tree_records, stream_records,
        "the walks handed on other records"
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEYS: &[&str] = &[
        "email",
        "phone",
        "phone_number",
        "country",
        "country_code",
        "name",
        "display_name",
        "ip",
        "last_login_ip",
        "locale",
        "address",
        "device_id",
        "location",
        "passport_number",
        "users",
        "version",
        "app_version",
        "note",
        "id",
        "x",
        "internal",
        "a/b~c",
        "q\"k\n",
        "key",
        "value",
        "type",
        "by_country",
        "DE",
        "countries",
        "code",
        "lat",
        "lng",
        "coordinates",
        "dial_code",
    ];
    const STRINGS: &[&str] = &[
        "a@example.org",
        "country",
        "phone",
        "email",
        "+44 20 7946 0321",
        "(212) 555-0147",
        "US",
        "DE",
        "8.8.8.8",
        "2001:4860:4860::8888",
        "1.2.3.4",
        "en-GB",
        "",
        "  ",
        "hello",
        "Ann Lee",
        "{\"email\":\"b@example.org\",\"country\":\"FR\"}",
        "[\"+1 212 555 0183\"]",
        "aGVsbG8gd29ybGQsIG1haWwgYUBleGFtcGxlLm9yZw==",
        "%7B%22t%22%3A%22a%40example.org%22%7D",
        "tab\tand \"quotes\" \u{e9} +33 1 42 68 53 00",
    ];

    fn table() -> FieldTable {
        let mut t = FieldTable::with_defaults(true);
        t.insert("internal", FieldKind::NotPersonal);
        t
    }

    fn quoted(s: &str) -> String {
        serde_json::to_string(s).unwrap_or_default()
    }

    /// JSON texts of the keys and values the walk decides on, nested a few levels.
    fn document() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            prop::sample::select(
                &[
                    "null",
                    "true",
                    "false",
                    "0",
                    "-3",
                    "2.5",
                    "4915112345678",
                    "18446744073709551616"
                ][..]
            )
            .prop_map(str::to_string),
            prop::sample::select(STRINGS).prop_map(quoted),
        ];
        leaf.prop_recursive(6, 80, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((prop::sample::select(KEYS), inner), 0..7).prop_map(|m| {
                    let m: Vec<String> = m
                        .iter()
                        .map(|(k, v)| format!("{}: {v}", quoted(k)))
                        .collect();
                    format!("{{{}}}", m.join(", "))
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The streamed walk is the tree walk: the same records in the same order, and
        /// the same error, with the default limits and with limits small enough to hit.
        #[test]
        fn the_stream_walks_as_the_tree(doc in document(), small in any::<bool>()) {
            let fields = table();
            let profile = Profile::named("p");
            let limits = if small {
                Limits { max_depth: 4, max_records: 3, max_string_bytes: 24, ..Limits::default() }
            } else {
                Limits::default()
            };
            let streamed = check_walks(&fields, &profile, limits, doc.as_bytes());
            // Only an integer past u64::MAX is left to serde_json here.
            prop_assert!(streamed || doc.contains("18446744073709551616"), "{}", doc);
        }
    }

    #[test]
    fn worked_examples_walk_alike() {
        let fields = table();
        let profile = Profile::named("p");
        for doc in [
            // Decided by a field after the nested part, and one after a nested subject.
            r#"{"address": {"country": "DE"}, "email": "a@example.org"}"#,
            r#"{"address": {"country": "DE"}, "note": "x"}"#,
            r#"{"reporter": {"email": "a@example.org", "device": {"device_id": "D"}}, "name": "Ann", "phone": "+44 20 7946 0321"}"#,
            r#"[{"phone": [4915112345678, "+1 212 555 0183", [null, "US"]]}, {"address": {"street": " "}}]"#,
            r#"{"internal": {"email": "a@example.org"}, "app_version": "1.2.3.4", "x": 5}"#,
            r#""a@example.org""#,
            r#"[0, 0, 0, "8.8.8.8"]"#,
            // Contexts: before and after the subjects, a child's, none inside a subject.
            r#"{"country": "DE", "users": [{"email": "a@example.org"}, {"phone": "+44 20 7946 0321"}]}"#,
            r#"{"users": [{"email": "a@example.org"}], "locale": "de-DE", "x~/y": {"ip": 276}}"#,
            r#"{"data": {"attributes": {"email": "a@example.org"}, "meta": {"country": "DE", "deep": {"country": "FR"}}}}"#,
            r#"{"email": "a@example.org", "team": {"country": "DE", "members": [{"email": "b@example.org"}]}}"#,
            // Key/value pairs, either order; a context's; one naming a subject
            r#"{"email": "a@example.org", "fields": [{"key": "country", "value": "DE"}, {"value": "+44 20 7946 0321", "type": "phone"}]}"#,
            r#"{"users": [{"email": "a@example.org"}], "meta": {"name": "locale", "value": "de-DE"}}"#,
            r#"[{"key": "email", "value": "a@example.org"}, {"key": "x", "value": "DE"}, {"key": "country", "value": 5}]"#,
            // Grouped by country: arrays, objects and scalars under the countries
            r#"{"by_country": {"DE": [{"email": "a@example.org"}], "FR": {"lead": {"phone": "+44 20 7946 0321"}}, "n": 3, "XX": []}}"#,
            r#"{"email": "a@example.org", "per_nationality": {"Atlantis": [{"email": "b@example.org"}]}}"#,
            // A list or a value object on a container, and its coordinates and codes
            r#"{"countries": ["DE", 276, {"code": "FR"}, ["AT"]], "users": [{"email": "a@example.org"}]}"#,
            r#"{"users": [{"email": "a@example.org"}], "country": {"code": "DE", "name": "x", "flag": "y"}}"#,
            r#"{"meta": {"nationalities": ["US", "DE"], "phone": {"country_code": "+49"}}, "data": [{"email": "a@example.org", "lat": 52.5, "lng": 13.4}]}"#,
            r#"{"region": {"lat": 52.5, "lon": 13.4}, "users": [{"email": "a@example.org", "location": {"type": "Point", "coordinates": [13.4, 52.5]}}]}"#,
        ] {
            assert!(
                check_walks(&fields, &profile, Limits::default(), doc.as_bytes()),
                "{doc}"
            );
        }
    }

    #[test]
    fn large_documents_are_walked_without_their_tree() {
        // Both ways give the same; `document` takes the stream when the tree outgrows
        // the text (here: records between zeros).
        let mut doc = String::from("[");
        while doc.len() < 2 * super::super::TREE_FLOOR {
            doc.push_str(
                r#"{"email": "ann.lee@example.org", "phone_number": "+1 415 555 0112", "country_code": "US", "note": "account in good standing since 2019"}, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "#,
            );
        }
        doc.push_str("0]");
        let fields = table();
        let profile = Profile::named("p");
        assert!(check_walks(
            &fields,
            &profile,
            Limits::default(),
            doc.as_bytes()
        ));
        let mut w = Walker::new(&fields, &profile, Limits::default());
        assert!(w.streamed(doc.as_bytes()).is_some_and(|r| r.is_ok()));
        // This document's tree outgrows it, so `document` walks it as a stream; the same
        // records without the zeros make a tree within it.
        let floor = super::super::TREE_FLOOR;
        assert_eq!(json::parse_within(doc.as_bytes(), floor), Ok(None));
        let records = doc
            .replace(", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ", ", ")
            .replace(", 0]", "]");
        assert!(records.len() > floor);
        assert!(matches!(
            json::parse_within(records.as_bytes(), floor),
            Ok(Some(_))
        ));
    }
}
