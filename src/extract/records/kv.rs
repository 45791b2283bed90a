//! Key/value lists: `[{"key": "country", "value": "DE"}]`, as CRMs and form builders
//! send custom fields. An object of exactly two string members, one naming a field
//! (`key`, `name`, `field`, `attribute`, `property`, `label`, `type`) and one holding its
//! value (`value`, `val`), is read as that field: its value member takes the kind of the
//! name the other member gives, and the naming member is no field of its own (`name`
//! there is not a person's name). Both walks decide it the same way: the tree walk from
//! the object's members, the stream walk in its first reading.

use crate::extract::fields::{FieldKind, FieldTable};
use crate::extract::json::{Doc, Fields, Node};

fn normalised_is(key: &str, names: &[&str]) -> bool {
    let mut buf = [0u8; 12];
    crate::extract::fields::ascii_key(key, &mut buf)
        .is_some_and(|k| names.iter().any(|n| n.as_bytes() == k))
}

/// A member key that names the field of a key/value pair.
pub(super) fn names_a_field(key: &str) -> bool {
    normalised_is(
        key,
        &[
            "key",
            "name",
            "field",
            "attribute",
            "property",
            "label",
            "type",
        ],
    )
}

/// A member key that holds the value of a key/value pair.
pub(super) fn holds_the_value(key: &str) -> bool {
    // (most keys are turned away by their length and first letter, unnormalised)
    (3..=8).contains(&key.len())
        && matches!(key.as_bytes()[0], b'v' | b'V' | b'_')
        && normalised_is(key, &["value", "val"])
}

/// The kind a key/value object's value has (the field its naming member names), with
/// the indexes of its naming and value members; `None` for any other object.
pub(super) fn pair(
    table: &FieldTable,
    doc: &Doc<'_>,
    fields: Fields<'_>,
) -> Option<(usize, usize, FieldKind)> {
    if fields.len() != 2 {
        return None;
    }
    let members = fields.members();
    let text = |i: usize| match members.get(i).map(|m| m.value()) {
        Some(Node::Str(s)) => Some(doc.text(s)),
        _ => None,
    };
    let key = |i: usize| members.get(i).map(|m| doc.text(m.key()));
    let (name, value) = if key(1).is_some_and(holds_the_value) {
        (0, 1)
    } else if key(0).is_some_and(holds_the_value) {
        (1, 0)
    } else {
        return None;
    };
    if !key(name).is_some_and(names_a_field) {
        return None;
    }
    text(value)?;
    let kind = table.classify(text(name)?)?;
    Some((name, value, kind))
}

/// What the stream's first reading saw of an object's members, to decide as [`pair`].
#[derive(Debug, Clone, Default)]
pub(super) struct Seen {
    /// The string a naming member held.
    pub name: Option<compact_str::CompactString>,
    /// The string a value member held, and that member's key.
    pub value: Option<(compact_str::CompactString, compact_str::CompactString)>,
}

impl Seen {
    /// A string member `key: s` of the object.
    pub fn string(&mut self, key: &str, s: &str) {
        if names_a_field(key) && !holds_the_value(key) {
            self.name = Some(s.into());
        } else if holds_the_value(key) {
            self.value = Some((s.into(), key.into()));
        }
    }

    /// The pair's kind, and its value and value key, for an object of `members` members.
    pub fn decide(
        self,
        table: &FieldTable,
        members: usize,
    ) -> Option<(
        FieldKind,
        compact_str::CompactString,
        compact_str::CompactString,
    )> {
        if members != 2 {
            return None;
        }
        let (value, key) = self.value?;
        let kind = table.classify(&self.name?)?;
        Some((kind, value, key))
    }
}
