//! XML and SOAP (`application/xml`, `text/xml`, `*+xml`): element and attribute names
//! (without their namespace prefix) are field names. An element of text alone is a
//! string member; one with attributes or children is an object, its own text under
//! `value` (so `<property name="country">DE</property>` is the key/value pair
//! `{"name": "country", "value": "DE"}`, read as a country field). Repeated elements are repeated members (the walker keeps duplicate keys), so
//! `<users><user>..</user><user>..</user></users>` holds one record per `user`.
//!
//! A document type declaration is refused (`xml_dtd_refused`): no DTD means no external
//! entity (XXE) and no entity expansion (billion laughs). Only the five predefined
//! entities and character references are resolved; any other reference is invalid.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use super::{JsonOut, Structured, invalid};
use crate::extract::InspectError;

struct Frame {
    /// Whether the element is written as an object (it has attributes or children).
    object: bool,
    text: String,
}

/// Whether a document type declaration makes `t` an HTML page (`<!DOCTYPE html>`),
/// which is prose, rather than XML, whose DTD is refused.
pub fn is_html_doctype(t: &str) -> bool {
    t.get(..14)
        .is_some_and(|h| h.eq_ignore_ascii_case("<!doctype html"))
}

/// Whether `t` declares itself XML: a prolog, or a document type declaration that is
/// not HTML's.
pub fn declares_xml(t: &str) -> bool {
    t.starts_with("<?xml")
        || (t
            .get(..9)
            .is_some_and(|h| h.eq_ignore_ascii_case("<!doctype"))
            && !is_html_doctype(t))
}

/// The document as JSON text: `{"root": ...}`.
pub fn to_json(text: &str, max_depth: usize) -> Result<String, InspectError> {
    let bad = || invalid(Structured::Xml);
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut out = JsonOut::default();
    // (the JSON of XML is shorter than the XML: no closing tags; reserved once, so its
    // growth never holds two copies)
    out.text.reserve(text.len());
    out.open('{');
    let mut stack: Vec<Frame> = Vec::new();
    let mut roots = 0;
    loop {
        match reader.read_event().map_err(|_| bad())? {
            Event::DocType(_) => return Err(InspectError::XmlDtd),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Start(e) => {
                roots += usize::from(stack.is_empty());
                start(&mut out, &mut stack, &e, max_depth)?;
            }
            Event::Empty(e) => {
                roots += usize::from(stack.is_empty());
                start(&mut out, &mut stack, &e, max_depth)?;
                end(&mut out, &mut stack)?;
            }
            Event::End(_) => end(&mut out, &mut stack)?,
            Event::Text(t) => {
                let t = t.xml_content(XmlVersion::Implicit1_0).map_err(|_| bad())?;
                push_text(&mut stack, &t)?;
            }
            Event::CData(t) => {
                let t = t.decode().map_err(|_| bad())?;
                push_text(&mut stack, &t)?;
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|_| bad())? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|_| bad())?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(bad)?
                            .to_string()
                    }
                };
                push_text(&mut stack, &resolved)?;
            }
            Event::Eof => break,
        }
    }
    if !stack.is_empty() || roots == 0 {
        return Err(bad());
    }
    out.close('}');
    Ok(out.text)
}

fn local(name: &[u8]) -> Result<&str, InspectError> {
    std::str::from_utf8(name).map_err(|_| InspectError::InvalidUtf8)
}

fn start(
    out: &mut JsonOut,
    stack: &mut Vec<Frame>,
    e: &BytesStart<'_>,
    max_depth: usize,
) -> Result<(), InspectError> {
    if stack.len() >= max_depth {
        return Err(InspectError::TooDeep);
    }
    if let Some(parent) = stack.last_mut() {
        open_object(out, parent);
    }
    let name = e.local_name();
    out.key(local(name.as_ref())?);
    let mut frame = Frame {
        object: false,
        text: String::new(),
    };
    for attr in e.attributes() {
        let attr = attr.map_err(|_| invalid(Structured::Xml))?;
        let key = attr.key;
        if key.as_ref().starts_with(b"xmlns") {
            continue;
        }
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|_| invalid(Structured::Xml))?;
        open_object(out, &mut frame);
        out.key(local(key.local_name().as_ref())?);
        out.string(&value);
    }
    stack.push(frame);
    Ok(())
}

/// Writes `{` for an element that turns out to have attributes or children, and the
/// text it held so far as its `value`.
fn open_object(out: &mut JsonOut, frame: &mut Frame) {
    if frame.object {
        return;
    }
    out.open('{');
    frame.object = true;
    flush_text(out, frame);
}

fn flush_text(out: &mut JsonOut, frame: &mut Frame) {
    let t = frame.text.trim();
    if !t.is_empty() {
        out.key("value");
        out.string(t);
    }
    frame.text.clear();
}

fn end(out: &mut JsonOut, stack: &mut Vec<Frame>) -> Result<(), InspectError> {
    let mut frame = stack.pop().ok_or_else(|| invalid(Structured::Xml))?;
    if frame.object {
        flush_text(out, &mut frame);
        out.close('}');
    } else {
        out.string(frame.text.trim());
    }
    Ok(())
}

fn push_text(stack: &mut [Frame], t: &str) -> Result<(), InspectError> {
    match stack.last_mut() {
        Some(f) => f.text.push_str(t),
        // text outside the root element
        None if t.trim().is_empty() => {}
        None => return Err(invalid(Structured::Xml)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(x: &str) -> serde_json::Value {
        serde_json::from_str(&to_json(x, 64).unwrap()).unwrap()
    }

    #[test]
    fn elements_and_attributes_are_members() {
        let v = json(
            r#"<?xml version="1.0"?><soap:Envelope xmlns:soap="urn:x"><soap:Body>
            <user id="7" ns:country="DE"><email>a&#64;b.example</email><name>A &amp; B</name>
            <note><![CDATA[x <y>]]></note><empty/></user></soap:Body></soap:Envelope>"#,
        );
        let user = &v["Envelope"]["Body"]["user"];
        assert_eq!(user["id"], "7");
        assert_eq!(user["country"], "DE");
        assert_eq!(user["email"], "a@b.example");
        assert_eq!(user["name"], "A & B");
        assert_eq!(user["note"], "x <y>");
        assert_eq!(user["empty"], "");
        let mixed = json("<p lang=\"de\">Hallo <b>x</b> du</p>");
        assert_eq!(mixed["p"]["lang"], "de");
        assert_eq!(mixed["p"]["b"], "x");
        assert_eq!(mixed["p"]["value"], "Hallo  du");
    }

    #[test]
    fn repeated_elements_are_repeated_members() {
        let t = to_json("<u><p><c>DE</c></p><p><c>US</c></p></u>", 64).unwrap();
        assert_eq!(t, r#"{"u":{"p":{"c":"DE"},"p":{"c":"US"}}}"#);
    }

    #[test]
    fn dtds_unknown_entities_and_broken_documents_are_refused() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>"#;
        assert_eq!(
            to_json(xxe, 64).map_err(|e| e.reason()),
            Err("xml_dtd_refused")
        );
        for bad in [
            "<x>&e;</x>",
            "<x a=\"&e;\"/>",
            "<x><y></x>",
            "<x>",
            "text",
            "<x/>trailing",
            "<x a=\"1\" a=\"2\"/>",
        ] {
            assert_eq!(
                to_json(bad, 64).map_err(|e| e.reason()),
                Err("invalid_xml"),
                "{bad}"
            );
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert_eq!(
            to_json(&deep, 64).map_err(|e| e.reason()),
            Err("nesting_too_deep")
        );
    }
}
