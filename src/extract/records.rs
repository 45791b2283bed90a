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

use serde_json_path::JsonPath;

use super::fields::{FieldKind, FieldTable};
use super::json::{self, JsonError, Node};
use super::text::{self, TextHitKind};
use super::{InspectError, PersonalField, SignalKind};
use crate::policy::compile::Profile;

/// How many times a JSON document may be embedded in a string in a string.
pub const MAX_EMBEDDING: usize = 8;

#[derive(Debug, Clone)]
pub struct RawSignal {
    pub kind: SignalKind,
    pub pointer: String,
    /// The value, for the tagger only. Dropped by `tag`; never logged.
    pub value: String,
}

#[derive(Debug, Clone, Default)]
pub struct RawRecord {
    pub pointer: String,
    pub personal: Vec<PersonalField>,
    pub signals: Vec<RawSignal>,
}

pub struct Walker<'p> {
    fields: &'p FieldTable,
    profile: &'p Profile,
    records: Vec<RawRecord>,
    ptr: String,
    forced: HashSet<String>,
    ignored: HashSet<String>,
    embedding: usize,
}

fn from_json(e: JsonError) -> InspectError {
    match e {
        JsonError::TooDeep => InspectError::TooDeep,
        JsonError::Invalid { line, column } => InspectError::InvalidJson { line, column },
    }
}

fn has_data(n: &Node<'_>) -> bool {
    match n {
        Node::Null => false,
        Node::Bool(_) => false,
        Node::Num(_) => true,
        Node::Str(s) => !s.trim().is_empty(),
        Node::Arr(a) => a.iter().any(has_data),
        Node::Obj(o) => o.iter().any(|(_, v)| has_data(v)),
    }
}

fn escape_into(out: &mut String, key: &str) {
    if !key.contains(['~', '/']) {
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
    pub fn new(fields: &'p FieldTable, profile: &'p Profile) -> Self {
        Walker {
            fields,
            profile,
            records: Vec::new(),
            ptr: String::new(),
            forced: HashSet::new(),
            ignored: HashSet::new(),
            embedding: 0,
        }
    }

    pub fn finish(self) -> Vec<RawRecord> {
        self.records
    }

    /// A whole JSON document.
    pub fn document(&mut self, body: &[u8]) -> Result<(), InspectError> {
        let node = json::parse(body).map_err(from_json)?;
        self.apply_selectors(body, "")?;
        self.value(&node, None)
    }

    /// Line `i` of an NDJSON body: its records' pointers start with `/i`.
    pub fn line(&mut self, i: usize, line: &[u8]) -> Result<(), InspectError> {
        let node = json::parse(line).map_err(from_json)?;
        let prefix = format!("/{i}");
        self.apply_selectors(line, &prefix)?;
        self.ptr.clear();
        self.ptr.push_str(&prefix);
        let r = self.value(&node, None);
        self.ptr.clear();
        r
    }

    /// A plain-text body.
    pub fn text_body(&mut self, text: &str) {
        self.ptr.clear();
        self.free_text(text, None);
    }

    fn apply_selectors(&mut self, body: &[u8], prefix: &str) -> Result<(), InspectError> {
        if self.profile.records.is_empty() && self.profile.ignore.is_empty() {
            return Ok(());
        }
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| InspectError::Selector(self.profile.name.clone()))?;
        let run = |paths: &[JsonPath], into: &mut HashSet<String>| {
            for p in paths {
                for node in p.query_located(&value) {
                    into.insert(format!("{prefix}{}", node.location().to_json_pointer()));
                }
            }
        };
        run(&self.profile.records, &mut self.forced);
        run(&self.profile.ignore, &mut self.ignored);
        Ok(())
    }

    fn new_record(&mut self) -> usize {
        self.records.push(RawRecord { pointer: self.ptr.clone(), ..Default::default() });
        self.records.len() - 1
    }

    fn ensure(&mut self, ctx: Option<usize>) -> usize {
        match ctx {
            Some(r) => r,
            None => self.new_record(),
        }
    }

    fn value(&mut self, node: &Node<'_>, ctx: Option<usize>) -> Result<(), InspectError> {
        // A profile's record selector makes whatever it matches one subject's record.
        if !self.forced.is_empty() && self.forced.contains(&self.ptr) {
            let r = self.new_record();
            return match node {
                Node::Obj(fields) => self.object(fields, Some(r), true),
                _ => self.value_in(node, Some(r)),
            };
        }
        self.value_in(node, ctx)
    }

    fn value_in(&mut self, node: &Node<'_>, ctx: Option<usize>) -> Result<(), InspectError> {
        match node {
            Node::Obj(fields) => self.object(fields, ctx, false),
            Node::Arr(items) => {
                for (i, it) in items.iter().enumerate() {
                    let mark = self.ptr.len();
                    self.ptr.push('/');
                    self.ptr.push_str(itoa(i).as_str());
                    let r = if self.ignored.contains(&self.ptr) { Ok(()) } else { self.value(it, ctx) };
                    self.ptr.truncate(mark);
                    r?;
                }
                Ok(())
            }
            Node::Str(s) => self.string(s, ctx),
            _ => Ok(()),
        }
    }

    fn object(
        &mut self,
        fields: &[(std::borrow::Cow<'_, str>, Node<'_>)],
        ctx: Option<usize>,
        forced: bool,
    ) -> Result<(), InspectError> {
        let mut strong = false;
        let mut identity = false;
        let mut name = false;
        for (k, v) in fields {
            let Some(kind) = self.fields.classify(k) else { continue };
            if kind == FieldKind::NotPersonal || !has_data(v) {
                continue;
            }
            match kind {
                FieldKind::Name => name = true,
                k if k.identifies() => {
                    identity = true;
                    strong = true;
                }
                _ => strong = true,
            }
        }
        if name && strong {
            identity = true;
        }
        let rec = if forced {
            ctx
        } else {
            match ctx {
                Some(p) if !identity => Some(p),
                _ if strong => Some(self.new_record()),
                _ => ctx,
            }
        };
        for (k, v) in fields {
            let mark = self.ptr.len();
            self.ptr.push('/');
            escape_into(&mut self.ptr, k);
            let r = if !self.ignored.is_empty() && self.ignored.contains(&self.ptr) {
                Ok(())
            } else {
                match self.fields.classify(k) {
                    Some(FieldKind::NotPersonal) => Ok(()),
                    Some(kind) => self.classified(kind, v, rec),
                    None => self.value(v, rec),
                }
            };
            self.ptr.truncate(mark);
            r?;
        }
        Ok(())
    }

    fn classified(&mut self, kind: FieldKind, v: &Node<'_>, rec: Option<usize>) -> Result<(), InspectError> {
        match v {
            Node::Null | Node::Bool(_) => Ok(()),
            Node::Str(s) if s.trim().is_empty() => Ok(()),
            Node::Str(s) => {
                self.fact(kind, s, rec);
                Ok(())
            }
            Node::Num(n) => {
                let text = n.integer_text().unwrap_or_default();
                if kind == FieldKind::Phone && !text.is_empty() {
                    self.fact(kind, &text, rec);
                } else if kind.is_personal() {
                    self.fact(kind, "", rec);
                }
                Ok(())
            }
            Node::Arr(items) => {
                for (i, it) in items.iter().enumerate() {
                    let mark = self.ptr.len();
                    self.ptr.push('/');
                    self.ptr.push_str(itoa(i).as_str());
                    let r = self.classified(kind, it, rec);
                    self.ptr.truncate(mark);
                    r?;
                }
                Ok(())
            }
            Node::Obj(_) => {
                if kind.is_personal() && kind != FieldKind::Name && has_data(v) {
                    let r = self.ensure(rec);
                    self.records[r].personal.push(PersonalField { kind, pointer: self.ptr.clone() });
                    self.value(v, Some(r))
                } else {
                    self.value(v, rec)
                }
            }
        }
    }

    /// A scalar under a classified field name.
    fn fact(&mut self, kind: FieldKind, value: &str, rec: Option<usize>) {
        if kind == FieldKind::Name && rec.is_none() {
            return; // a lone name (a product's, a channel's) is no subject
        }
        let r = self.ensure(rec);
        let signal = match kind {
            FieldKind::Country => Some(SignalKind::CountryField),
            FieldKind::Locale => Some(SignalKind::Locale),
            FieldKind::Ip => Some(SignalKind::Ip),
            FieldKind::Phone => Some(SignalKind::Phone),
            _ => None,
        };
        if kind.is_personal() {
            self.records[r].personal.push(PersonalField { kind, pointer: self.ptr.clone() });
        }
        if let Some(kind) = signal
            && !value.is_empty()
        {
            self.records[r].signals.push(RawSignal { kind, pointer: self.ptr.clone(), value: value.to_string() });
        }
    }

    fn string(&mut self, s: &str, ctx: Option<usize>) -> Result<(), InspectError> {
        let t = s.trim();
        let looks_json = (t.starts_with('{') && t.ends_with('}')) || (t.starts_with('[') && t.ends_with(']'));
        if looks_json {
            match json::parse(t.as_bytes()) {
                Ok(inner) => {
                    if self.embedding >= MAX_EMBEDDING {
                        return Err(InspectError::EmbeddingTooDeep(MAX_EMBEDDING));
                    }
                    let mark = self.ptr.len();
                    self.ptr.push('#');
                    self.embedding += 1;
                    let r = self.value(&inner, ctx);
                    self.embedding -= 1;
                    self.ptr.truncate(mark);
                    return r;
                }
                Err(JsonError::TooDeep) => return Err(InspectError::TooDeep),
                Err(JsonError::Invalid { .. }) => {}
            }
        }
        self.free_text(s, ctx);
        Ok(())
    }

    fn free_text(&mut self, s: &str, ctx: Option<usize>) {
        let hits = text::scan(s);
        if hits.is_empty() {
            return;
        }
        let r = self.ensure(ctx);
        for h in hits {
            let (kind, signal) = match h.kind {
                TextHitKind::Email => (FieldKind::Email, None),
                TextHitKind::Phone => (FieldKind::Phone, Some(SignalKind::TextPhone)),
                TextHitKind::Ip => (FieldKind::Ip, Some(SignalKind::TextIp)),
            };
            self.records[r].personal.push(PersonalField { kind, pointer: self.ptr.clone() });
            if let Some(kind) = signal {
                self.records[r].signals.push(RawSignal { kind, pointer: self.ptr.clone(), value: h.value });
            }
        }
    }
}

fn itoa(i: usize) -> String {
    i.to_string()
}
