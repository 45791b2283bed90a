//! Structured text read as structures, not prose: CSV and TSV, XML (and SOAP), YAML,
//! GraphQL and JSON text sequences. Each reader turns its format into JSON text that the
//! walker reads as it reads any JSON body, so field names count, a row or an element is
//! a record, and every rule of the JSON path (signals, context, embedded encodings)
//! applies unchanged. Each is chosen by its label or sniffed from the body (see
//! [`sniff`]), from one place: `extract::body_records`.
//!
//! Every reader refuses what it cannot read whole, with a named reason: a malformed
//! document, an XML document type declaration (no external entities, no entity
//! expansion), YAML aliases that expand past their budget.

pub mod csv;
pub mod graphql;
pub mod xml;
pub mod yaml;

use super::InspectError;

/// Where a reader hands each record-sized document (a CSV row, a YAML document) as JSON
/// text, with its index.
pub type Each<'a> = &'a mut dyn FnMut(usize, &[u8]) -> Result<(), InspectError>;

/// A structured text format customs reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structured {
    /// Comma-, semicolon- or tab-separated values with a header row.
    Csv(u8),
    Xml,
    Yaml,
    Graphql,
    /// RFC 7464: JSON texts each introduced by an RS (0x1E).
    JsonSeq,
}

impl Structured {
    pub fn name(self) -> &'static str {
        match self {
            Structured::Csv(b'\t') => "tsv",
            Structured::Csv(_) => "csv",
            Structured::Xml => "xml",
            Structured::Yaml => "yaml",
            Structured::Graphql => "graphql",
            Structured::JsonSeq => "json-seq",
        }
    }

    /// The format a content type's essence (lowercase) names.
    pub fn labelled(essence: &str, body: &[u8]) -> Option<Structured> {
        Some(match essence {
            "text/csv" | "application/csv" | "text/comma-separated-values" => {
                Structured::Csv(csv::labelled_delimiter(body))
            }
            "text/tab-separated-values" | "text/tsv" => Structured::Csv(b'\t'),
            "application/xml" | "text/xml" => Structured::Xml,
            e if e.ends_with("+xml") => Structured::Xml,
            "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => {
                Structured::Yaml
            }
            e if e.ends_with("+yaml") => Structured::Yaml,
            "application/graphql" => Structured::Graphql,
            "application/json-seq" => Structured::JsonSeq,
            _ => return None,
        })
    }
}

/// What an unlabelled (or `text/*`) body that is not JSON looks like, if it is one of
/// these formats: JSON text sequences by their RS, XML by its first `<` and a whole
/// parse, GraphQL by its first keyword, YAML by a `---` or `%YAML` start or lines of
/// `key: value`, CSV by a delimiter that splits its first lines into the same number
/// (two or more) of fields.
pub fn sniff(body: &[u8]) -> Option<Structured> {
    let text = std::str::from_utf8(body).ok()?;
    let t = text.trim_start();
    if t.starts_with('\u{1e}') {
        return Some(Structured::JsonSeq);
    }
    // XML by its prolog or DTD (read, so a DTD is refused, not taken for prose), or by
    // a whole parse.
    if xml::declares_xml(t) || (t.starts_with('<') && xml::to_json(t, 64).is_ok()) {
        return Some(Structured::Xml);
    }
    if graphql::looks_like(t) {
        return Some(Structured::Graphql);
    }
    if yaml::looks_like(t) {
        return Some(Structured::Yaml);
    }
    csv::delimiter(body).map(Structured::Csv)
}

/// A string inside a document that is itself a whole XML element or GraphQL document
/// (a SOAP payload in a JSON field, the `query` of a GraphQL request): its JSON, with
/// the pointer marker it is walked under. What does not parse as one stays prose, and
/// so does an HTML page (`<!DOCTYPE html>`); XML with any other DTD is refused, as in a
/// body.
pub fn embedded(t: &str, max_depth: usize) -> Result<Option<(&'static str, String)>, InspectError> {
    let b = t.as_bytes();
    if b.first() == Some(&b'<') && b.last() == Some(&b'>') {
        return match xml::to_json(t, max_depth) {
            Ok(json) => Ok(Some(("#xml", json))),
            Err(e @ (InspectError::TooDeep | InspectError::XmlDtd)) if !xml::is_html_doctype(t) => {
                Err(e)
            }
            Err(_) => Ok(None),
        };
    }
    if matches!(b.first(), Some(b'q' | b'm' | b's' | b'f' | b'{')) && graphql::looks_like(t) {
        return match graphql::to_json(t, max_depth) {
            Ok(json) => Ok(json.map(|j| ("#graphql", j))),
            Err(InspectError::TooDeep) => Err(InspectError::TooDeep),
            Err(_) => Ok(None),
        };
    }
    Ok(None)
}

/// Lines of CSV or YAML inside a string (a file passed as a string, which the prose
/// scan's byte pass found line breaks in): its rows or documents as a JSON array, with
/// the marker it is walked under; `None` if it does not parse as the format it sniffs as.
pub fn lines(t: &str, max_depth: usize) -> Result<Option<(&'static str, String)>, InspectError> {
    let b = t.as_bytes();
    let format = match sniff(b) {
        Some(f @ (Structured::Csv(_) | Structured::Yaml)) => f,
        _ => return Ok(None),
    };
    let mut out = JsonOut::default();
    out.open('[');
    let mut each = |_: usize, j: &[u8]| {
        out.raw(std::str::from_utf8(j).map_err(|_| InspectError::InvalidUtf8)?);
        Ok(())
    };
    let read = match format {
        Structured::Csv(d) => csv::rows(b, d, &mut each),
        _ => yaml::documents(t, max_depth, &mut each),
    };
    match read {
        Ok(()) => {
            out.close(']');
            let marker = if format == Structured::Yaml {
                "#yaml"
            } else {
                "#csv"
            };
            Ok(Some((marker, out.text)))
        }
        Err(e @ (InspectError::TooDeep | InspectError::Limit { .. })) => Err(e),
        Err(_) => Ok(None),
    }
}

/// The reason a reader gives for a document it cannot read.
pub fn invalid(format: Structured) -> InspectError {
    InspectError::InvalidFormat(match format {
        Structured::Csv(_) => "invalid_csv",
        Structured::Xml => "invalid_xml",
        Structured::Yaml => "invalid_yaml",
        Structured::Graphql => "invalid_graphql",
        Structured::JsonSeq => "invalid_json",
    })
}

/// JSON text written as it is read: members and items are separated by the writer.
#[derive(Default)]
pub struct JsonOut {
    pub text: String,
    /// Per open container: whether something was written in it yet.
    open: Vec<bool>,
}

impl JsonOut {
    fn sep(&mut self) {
        if let Some(first) = self.open.last_mut() {
            if *first {
                self.text.push(',');
            }
            *first = true;
        }
    }
    pub fn depth(&self) -> usize {
        self.open.len()
    }
    /// `"key":` inside an object; the value follows.
    pub fn key(&mut self, k: &str) {
        self.sep();
        quote(&mut self.text, k);
        self.text.push(':');
        // the value does not get a separator of its own
        if let Some(first) = self.open.last_mut() {
            *first = false;
        }
    }
    pub fn string(&mut self, s: &str) {
        self.sep();
        quote(&mut self.text, s);
    }
    /// A JSON scalar written as it is (`12`, `true`, `null`).
    pub fn raw(&mut self, s: &str) {
        self.sep();
        self.text.push_str(s);
    }
    pub fn open(&mut self, c: char) {
        self.sep();
        self.text.push(c);
        self.open.push(false);
    }
    /// Where the next value's own text will start (after its separator).
    pub fn value_start(&mut self) -> usize {
        let sep = self.open.last().is_some_and(|first| *first);
        self.text.len() + usize::from(sep)
    }
    /// The text of an earlier value (`start..end` of [`JsonOut::text`]), written again.
    pub fn copy_within(&mut self, start: usize, end: usize) {
        self.sep();
        let copy = self.text[start..end].to_string();
        self.text.push_str(&copy);
    }
    pub fn close(&mut self, c: char) {
        self.text.push(c);
        self.open.pop();
        // a value just written in the parent
        if let Some(first) = self.open.last_mut() {
            *first = true;
        }
    }
}

/// `s` as a JSON string.
pub fn quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_separates_members_and_items() {
        let mut o = JsonOut::default();
        o.open('{');
        o.key("a");
        o.string("x\"\n");
        o.key("b");
        o.open('[');
        o.raw("1");
        o.open('{');
        o.close('}');
        o.string("\u{1}");
        o.close(']');
        o.key("c");
        o.raw("null");
        o.close('}');
        assert_eq!(o.text, r#"{"a":"x\"\n","b":[1,{},"\u0001"],"c":null}"#);
        let v: serde_json::Value = serde_json::from_str(&o.text).unwrap();
        assert_eq!(v["b"][2], "\u{1}");
    }

    #[test]
    fn formats_are_sniffed_by_their_shape_and_prose_is_none() {
        for (body, want) in [
            ("\u{1e}{\"a\":1}\n", Some(Structured::JsonSeq)),
            ("<?xml version=\"1.0\"?><a>b</a>", Some(Structured::Xml)),
            ("<user><country>DE</country></user>", Some(Structured::Xml)),
            ("mutation { a(b: 1) { id } }", Some(Structured::Graphql)),
            ("---\nname: x\n", Some(Structured::Yaml)),
            ("name: x\ncountry: DE\n", Some(Structured::Yaml)),
            ("email,country\na@b.c,DE\n", Some(Structured::Csv(b','))),
            ("email\tcountry\na@b.c\tDE\n", Some(Structured::Csv(b'\t'))),
            ("email;country\na@b.c;DE\n", Some(Structured::Csv(b';'))),
            ("Hello, please call me back.\nThanks", None),
            ("just one line of prose", None),
            ("<b>not closed", None),
            ("<!DOCTYPE x><u>DE</u>", Some(Structured::Xml)),
            ("<!doctype html><p>Hi</p>", None),
        ] {
            assert_eq!(sniff(body.as_bytes()), want, "{body:?}");
        }
    }
}
