//! Encodings inside strings that hide what they carry: JSON Web Tokens (a header and a
//! payload, each base64url JSON) and `data:` URLs (base64 or percent-encoded). Each is
//! recognised by a cheap prefix (`eyJ`, `data:`) before anything is decoded; what it
//! carries is inspected as the string it is (JSON as records, text as prose). HTML
//! character references are undone by the prose reader (`text`), percent-encoding and
//! base64 by the walker.

use base64::Engine as _;

/// A JSON Web Token's header and payload as JSON texts (`header.payload.signature`,
/// each part base64url): both must be JSON objects.
#[inline]
pub fn jwt(t: &str) -> Option<[String; 2]> {
    // `{"` in base64url: every JWT header starts so.
    if !t.starts_with("eyJ") || t.len() > 64 * 1024 {
        return None;
    }
    jwt_parts(t)
}

fn jwt_parts(t: &str) -> Option<[String; 2]> {
    let mut parts = t.split('.');
    let (h, p, sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !sig.bytes().all(is_b64url) {
        return None;
    }
    let dec = |s: &str| -> Option<String> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        text.trim_start().starts_with('{').then_some(text)
    };
    Some([dec(h)?, dec(p)?])
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'='
}

/// What a `data:` URL carries, as text: `data:[type][;charset=..][;base64],DATA`.
/// `None` for anything else, or for data that is not UTF-8 text (an image).
pub fn data_url(t: &str) -> Option<String> {
    if t.len() < 6 || !t.as_bytes()[..5].eq_ignore_ascii_case(b"data:") {
        return None;
    }
    let (meta, data) = t[5..].split_once(',')?;
    let base64 = meta
        .rsplit(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("base64"));
    let bytes = if base64 {
        let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let compact = super::text::percent_decode(&compact);
        base64::engine::general_purpose::STANDARD
            .decode(compact.trim_end_matches('=').to_string() + pad(&compact))
            .or_else(|_| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(compact.trim_end_matches('='))
            })
            .ok()?
    } else {
        super::text::percent_decode(data).into_bytes()
    };
    String::from_utf8(bytes).ok()
}

/// The `=` padding a base64 text without it needs.
fn pad(s: &str) -> &'static str {
    match s.trim_end_matches('=').len() % 4 {
        2 => "==",
        3 => "=",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64url(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn tokens_give_their_header_and_payload() {
        let t = format!(
            "{}.{}.c2lnbmF0dXJl",
            b64url(r#"{"alg":"HS256","typ":"JWT"}"#),
            b64url(r#"{"sub":"u1","email":"lukas.weber@example.org","country":"DE"}"#)
        );
        let [h, p] = jwt(&t).unwrap();
        assert!(h.contains("HS256"));
        assert!(p.contains("lukas.weber"));
        // An unsigned token (`alg: none`) has an empty signature.
        assert!(
            jwt(&format!(
                "{}.{}.",
                b64url(r#"{"alg":"none"}"#),
                b64url("{}")
            ))
            .is_some()
        );
        for no in [
            "eyJhbGciOi",
            "abc.def.ghi",
            "eyJ.x",
            "eyJhIjoxfQ.bm90IGpzb24.x",
        ] {
            assert!(jwt(no).is_none(), "{no}");
        }
    }

    #[test]
    fn data_urls_give_their_text() {
        assert_eq!(
            data_url("data:text/plain;base64,bHVrYXNAZXhhbXBsZS5vcmc=").as_deref(),
            Some("lukas@example.org")
        );
        assert_eq!(
            data_url("DATA:text/plain;charset=utf-8;base64,bHVrYXNAZXhhbXBsZS5vcmc").as_deref(),
            Some("lukas@example.org")
        );
        assert_eq!(
            data_url("data:application/json,%7B%22country%22%3A%22DE%22%7D").as_deref(),
            Some(r#"{"country":"DE"}"#)
        );
        assert_eq!(data_url("data:,hello").as_deref(), Some("hello"));
        // An image is no text; anything else is no data URL.
        assert!(data_url("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB").is_none());
        assert!(data_url("database: main").is_none());
    }
}
