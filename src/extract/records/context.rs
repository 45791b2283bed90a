//! Record context: a signal on a container applies to the records under it.
//!
//! An object whose own fields carry a signal but identify no one (a batch's `country`
//! beside its `users`, a `meta` object's `locale`, a query string's `country`) is the
//! *context* of the subjects below it, not a subject: every record opened below it starts
//! with its signals, each keeping the pointer of the ancestor it came from, so `explain`
//! shows which ancestor gave a record its signal. A context's signals are its own signal
//! fields (a scalar, or up to two levels of lists and value objects: `["DE"]`,
//! `{"code": "DE"}`, `[{"code": "DE"}]`) and those of its direct child objects that are
//! contexts too (JSON:API's `meta` beside `attributes`). An object inside a subject's record is part of that
//! subject, never the context of subjects nested in it (a reporter's country is not the
//! reported user's). Signals are only ever added this way, never taken away, so a
//! context can make a record's jurisdiction stricter, never looser.
//!
//! The tree walk reads a container's context before walking its members, in whatever
//! order the fields come; the stream walk reads it in its first reading (see `stream`).

use compact_str::CompactString;

use super::{KeyInfo, RawSignal, Walker, escape_into, has_data, scalar_has_data};
use crate::extract::fields::FieldKind;
use crate::extract::json::{Doc, Fields, Node, Scalar};
use crate::extract::signals::ids;
use crate::extract::{Pointer, SignalKind};

/// The kind of signal a value under a field of `kind` is, as the walk reads it.
pub(super) fn signal_kind(kind: FieldKind, value: &str) -> Option<SignalKind> {
    match kind {
        FieldKind::Country => Some(SignalKind::CountryField),
        FieldKind::Locale => Some(SignalKind::Locale),
        FieldKind::Ip => Some(SignalKind::Ip),
        FieldKind::Phone => Some(SignalKind::Phone),
        FieldKind::TimeZone => Some(SignalKind::TimeZone),
        FieldKind::CallingCode => Some(SignalKind::CallingCode),
        FieldKind::Location => Some(SignalKind::Location),
        FieldKind::Address => Some(SignalKind::Address),
        // An identifier whose format is a country's says where it was issued; any other
        // document number (a passport's) is personal and no signal.
        FieldKind::DocumentNumber if ids::read(value).is_some_and(|i| i.country.is_some()) => {
            Some(SignalKind::Identifier)
        }
        _ => None,
    }
}

/// Whether a number under a field of `kind` is read as a signal (`"country": 276`).
pub(super) fn number_is_signal(kind: FieldKind) -> bool {
    matches!(
        kind,
        FieldKind::Phone
            | FieldKind::Ip
            | FieldKind::Country
            | FieldKind::Locale
            | FieldKind::CallingCode
            | FieldKind::Location
    )
}

/// The text a number under a signal field of `kind` is read as: its digits, its decimal
/// form for coordinates, `?number` (unreadable) for a fraction anywhere else.
pub(super) fn number_text(kind: FieldKind, n: crate::extract::json::Num) -> String {
    if kind == FieldKind::Location {
        return n.decimal_text();
    }
    n.integer_text().unwrap_or_else(|| "?number".into())
}

/// The signal a scalar under a field of `kind` gives: its kind and the text read.
pub(super) fn scalar_signal(kind: FieldKind, v: Scalar<'_>) -> Option<(SignalKind, CompactString)> {
    let text: CompactString = match v {
        Scalar::Str(s) if scalar_has_data(v) => s.into(),
        Scalar::Num(n) if number_is_signal(kind) => number_text(kind, n).into(),
        _ => return None,
    };
    signal_kind(kind, &text).map(|k| (k, text))
}

/// A context signal found by the stream's first reading: its pointer relative to the
/// container it is the context of (`/country`, `/meta/locale`).
#[derive(Debug, Clone)]
pub(super) struct Relative {
    pub rel: CompactString,
    pub kind: SignalKind,
    pub value: CompactString,
}

impl Relative {
    /// Appends `/key` (escaped) in front of the relative pointer.
    pub fn under(mut self, key: &str) -> Self {
        let mut rel = String::with_capacity(key.len() + 1 + self.rel.len());
        rel.push('/');
        escape_into(&mut rel, key);
        rel.push_str(&self.rel);
        self.rel = rel.into();
        self
    }
}

/// Whether an object's fields make it strong (a signal or personal data of its own) and
/// whether they identify a subject, as `Walker::object` decides.
pub(super) fn shape(strong: &mut bool, identity: &mut bool, name: &mut bool, kind: FieldKind) {
    match kind {
        FieldKind::NotPersonal => {}
        FieldKind::Name => *name = true,
        k if k.identifies() => {
            *identity = true;
            *strong = true;
        }
        _ => *strong = true,
    }
}

impl Walker<'_> {
    /// Pushes the context an object outside any subject gives the records below it:
    /// its own scalar signals (when `strong` and not identifying) and its child
    /// contexts'. Returns how many were pushed, for [`Walker::pop_context`].
    pub(super) fn push_context(
        &mut self,
        doc: &Doc<'_>,
        fields: Fields<'_>,
        keys: &[(KeyInfo, &str)],
        strong: bool,
    ) -> usize {
        let before = self.inherited.len();
        let members = fields.members();
        if strong {
            self.push_own(doc, fields, keys, "");
        }
        for (i, m) in members.iter().enumerate() {
            let Node::Obj(child) = m.value() else {
                continue;
            };
            if keys[i].0.kind.is_some() {
                continue;
            }
            let child = doc.fields(child);
            let mut child_keys = Vec::with_capacity(child.len());
            let (mut s, mut id, mut name) = (false, false, false);
            let pair = if child.len() == 2 {
                super::kv::pair(self.fields, doc, child)
            } else {
                None
            };
            for (j, c) in child.members().iter().enumerate() {
                let k = doc.text(c.key());
                let mut info = self.key_info_at(self.depth + 1, j, k);
                if let Some((n, v, kind)) = pair {
                    info.kind = if j == v {
                        Some(kind)
                    } else if j == n {
                        None
                    } else {
                        info.kind
                    };
                }
                child_keys.push((info, k));
                if let Some(kind) = info.kind
                    && has_data(doc, &c.value())
                {
                    shape(&mut s, &mut id, &mut name, kind);
                }
            }
            if s && !id && !name {
                self.push_own(doc, child, &child_keys, keys[i].1);
            }
        }
        self.inherited.len() - before
    }

    /// The object's own signal fields, pointed to under the current pointer (and
    /// `/under`, for a child object): a scalar, each scalar of a list
    /// (`"countries": ["DE", "AT"]`), and the members of a value object that name its
    /// value (`"country": {"code": "DE"}`).
    fn push_own(
        &mut self,
        doc: &Doc<'_>,
        fields: Fields<'_>,
        keys: &[(KeyInfo, &str)],
        under: &str,
    ) {
        for (i, m) in fields.members().iter().enumerate() {
            let Some(kind) = keys[i].0.kind else {
                continue;
            };
            let mut ptr = self.ptr.clone();
            if !under.is_empty() {
                ptr.push('/');
                escape_into(&mut ptr, under);
            }
            ptr.push('/');
            escape_into(&mut ptr, keys[i].1);
            self.push_value(doc, kind, &m.value(), &ptr, 0);
        }
    }

    /// A signal field's value as context: a scalar, or up to two levels of lists and
    /// value objects' naming members (`["DE"]`, `{"code": "DE"}`, `[{"code": "DE"}]`,
    /// `{"lat": 52.5, "lng": 13.4}`).
    fn push_value(&mut self, doc: &Doc<'_>, kind: FieldKind, v: &Node, ptr: &str, level: u8) {
        match v {
            Node::Arr(items) if level < 2 => {
                for (j, it) in doc.items(*items).iter().enumerate() {
                    let mut at = String::from(ptr);
                    super::push_index(&mut at, j);
                    self.push_value(doc, kind, &it, &at, level + 1);
                }
            }
            Node::Obj(o) if level < 2 && super::signal_field(kind) => {
                for member in doc.fields(*o).members().iter() {
                    let k = doc.text(member.key());
                    if let Some(mk) = crate::extract::fields::member_kind(kind, k) {
                        let mut at = String::from(ptr);
                        at.push('/');
                        escape_into(&mut at, k);
                        self.push_value(doc, mk, &member.value(), &at, level + 1);
                    }
                }
            }
            v => self.push_scalar(doc, kind, v, ptr),
        }
    }

    /// A scalar's signal, as the context at `ptr`.
    fn push_scalar(&mut self, doc: &Doc<'_>, kind: FieldKind, v: &Node, ptr: &str) {
        let scalar = match v {
            Node::Str(s) => Scalar::Str(doc.text(*s)),
            Node::Num(n) => Scalar::Num(*n),
            _ => return,
        };
        if let Some((kind, value)) = scalar_signal(kind, scalar) {
            self.inherited.push(RawSignal {
                kind,
                pointer: Pointer::from(ptr),
                value,
            });
        }
    }

    /// Pushes the country a grouping key names (`{"by_country": {"DE": [...]}}`), at
    /// the current pointer, as the context of the records under it.
    pub(super) fn push_group(&mut self, key: &str) {
        self.inherited.push(RawSignal {
            kind: SignalKind::CountryField,
            pointer: Pointer::from(self.ptr.as_str()),
            value: key.into(),
        });
    }

    /// Pushes context signals found by the stream's first reading, under the current
    /// pointer.
    pub(super) fn push_relative(&mut self, signals: &[Relative]) -> usize {
        for s in signals {
            let mut ptr = self.ptr.clone();
            ptr.push_str(&s.rel);
            self.inherited.push(RawSignal {
                kind: s.kind,
                pointer: Pointer::from(ptr.as_str()),
                value: s.value.clone(),
            });
        }
        signals.len()
    }

    /// Name/value pairs outside the body (query string, headers, cookies) that identify
    /// no one: their signals are the context of every record of the body.
    pub fn request_context(&mut self, prefix: &str, pairs: &[(String, String)]) {
        let (mut strong, mut identity, mut name) = (false, false, false);
        let kinds: Vec<Option<FieldKind>> = pairs
            .iter()
            .map(|(k, v)| {
                let kind = self.fields.classify(k);
                if let Some(kind) = kind
                    && scalar_has_data(Scalar::Str(v))
                {
                    shape(&mut strong, &mut identity, &mut name, kind);
                }
                kind
            })
            .collect();
        if identity || (name && strong) {
            return;
        }
        for ((k, v), kind) in pairs.iter().zip(kinds) {
            if let Some((kind, value)) = kind.and_then(|f| scalar_signal(f, Scalar::Str(v))) {
                let mut ptr = String::from(prefix);
                ptr.push('/');
                escape_into(&mut ptr, k);
                self.inherited.push(RawSignal {
                    kind,
                    pointer: Pointer::from(ptr.as_str()),
                    value,
                });
            }
        }
    }

    /// Ends the request's context (before the query, headers and cookies are walked as
    /// records of their own).
    pub fn end_request_context(&mut self) {
        self.inherited.clear();
    }

    /// Drops the last `n` context signals pushed.
    pub(super) fn pop_context(&mut self, n: usize) {
        let len = self.inherited.len().saturating_sub(n);
        self.inherited.truncate(len);
    }
}
