//! `multipart/*` bodies (RFC 7578, RFC 2046): split at the boundary, read each part's
//! headers with `httparse`, and hand each part to the inspector by its own content type.
//! Anything malformed (no closing delimiter, a part without a header block) is refused.
//! A part's `Content-Transfer-Encoding` (RFC 2045) is undone before it is read:
//! `base64` (lines of any width, any whitespace) and `quoted-printable`; a part in any
//! other transfer encoding, or whose encoding does not decode, is refused.

use std::borrow::Cow;

use base64::Engine as _;

use super::InspectError;

pub struct Part<'a> {
    pub name: Option<String>,
    /// Whether the part is a file (`filename` in its disposition), not a form field.
    pub file: bool,
    pub content_type: Option<String>,
    /// The part's content, its transfer encoding undone.
    pub body: Cow<'a, [u8]>,
}

/// The `boundary` parameter of a multipart content type.
pub fn boundary(content_type: &str) -> Option<String> {
    for param in content_type.split(';').skip(1) {
        let (k, v) = param.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("boundary") {
            let b = v.trim().trim_matches('"');
            if !b.is_empty() && b.len() <= 70 {
                return Some(b.to_string());
            }
        }
    }
    None
}

/// A body that starts with a multipart delimiter line (`--boundary\r\n`), sent with a
/// wrong or missing content type.
pub fn sniff_boundary(body: &[u8]) -> Option<String> {
    let rest = body.strip_prefix(b"--")?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    let b = std::str::from_utf8(&rest[..end]).ok()?;
    (!b.is_empty() && b.len() <= 70 && !b.contains(' ')).then(|| b.to_string())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

pub fn parse<'a>(
    body: &'a [u8],
    boundary: &str,
    max_parts: usize,
) -> Result<Vec<Part<'a>>, InspectError> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    // The first delimiter may follow a preamble.
    let first = if body.starts_with(d) {
        0
    } else {
        find(body, format!("\r\n{delim}").as_bytes())
            .map(|i| i + 2)
            .ok_or(InspectError::InvalidMultipart)?
    };
    let mut pos = first + d.len();
    let next_delim = format!("\r\n{delim}");
    let mut parts = Vec::new();
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(parts); // closing delimiter; the epilogue is ignored by every reader
        }
        // transport padding, then CRLF
        let line_end = find(rest, b"\r\n").ok_or(InspectError::InvalidMultipart)?;
        if !rest[..line_end].iter().all(|b| *b == b' ' || *b == b'\t') {
            return Err(InspectError::InvalidMultipart);
        }
        let start = pos + line_end + 2;
        let end = find(&body[start..], next_delim.as_bytes())
            .map(|i| start + i)
            .ok_or(InspectError::InvalidMultipart)?;
        if parts.len() >= max_parts {
            return Err(InspectError::Limit {
                name: "max_multipart_parts",
                max: max_parts,
            });
        }
        parts.push(part(&body[start..end])?);
        pos = end + next_delim.len();
    }
}

fn part(raw: &[u8]) -> Result<Part<'_>, InspectError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let (consumed, headers) = match httparse::parse_headers(raw, &mut headers) {
        Ok(httparse::Status::Complete((n, h))) => (n, h),
        _ => return Err(InspectError::InvalidMultipart),
    };
    let mut name = None;
    let mut file = false;
    let mut content_type = None;
    let mut transfer = None;
    for h in headers.iter() {
        let v = String::from_utf8_lossy(h.value).into_owned();
        if h.name.eq_ignore_ascii_case("content-type") {
            content_type = Some(v);
        } else if h.name.eq_ignore_ascii_case("content-disposition") {
            for p in v.split(';').skip(1) {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                let k = k.trim().to_ascii_lowercase();
                if k == "name" {
                    name = Some(v.trim().trim_matches('"').to_string());
                }
                file |= k.starts_with("filename");
            }
        } else if h.name.eq_ignore_ascii_case("content-transfer-encoding") {
            transfer = Some(v.trim().to_ascii_lowercase());
        }
    }
    let raw = &raw[consumed..];
    Ok(Part {
        name,
        file,
        content_type,
        body: match transfer.as_deref() {
            None | Some("7bit" | "8bit" | "binary") => Cow::Borrowed(raw),
            Some(enc) => Cow::Owned(undo_transfer_encoding(enc, raw)?),
        },
    })
}

/// A part's content in `base64` or `quoted-printable`, decoded.
fn undo_transfer_encoding(enc: &str, raw: &[u8]) -> Result<Vec<u8>, InspectError> {
    let invalid = || InspectError::InvalidEncoding(format!("part transfer encoding {enc}"));
    match enc {
        "base64" => {
            let compact: Vec<u8> = raw
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(&compact)
                .map_err(|_| invalid())
        }
        "quoted-printable" => quoted_printable::decode(raw, quoted_printable::ParseMode::Strict)
            .map_err(|_| invalid()),
        other => Err(InspectError::UnsupportedEncoding(format!(
            "part transfer encoding {}",
            other.chars().take(32).collect::<String>()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_names() {
        let body = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n{\"email\":\"a@example.org\"}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--XyZ--\r\n";
        let parts = parse(body, "XyZ", 10).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name.as_deref(), Some("meta"));
        assert_eq!(parts[0].content_type.as_deref(), Some("application/json"));
        assert_eq!(&*parts[0].body, b"{\"email\":\"a@example.org\"}");
        assert_eq!(&*parts[1].body, b"hello");
        assert_eq!(
            boundary("multipart/form-data; boundary=\"XyZ\""),
            Some("XyZ".into())
        );
        assert_eq!(sniff_boundary(b"--XyZ\r\nrest"), Some("XyZ".into()));
    }

    #[test]
    fn transfer_encodings_are_undone_and_unknown_ones_refused() {
        let part = |enc: &str, body: &str| {
            let b = format!("--B\r\nContent-Transfer-Encoding: {enc}\r\n\r\n{body}\r\n--B--");
            parse(b.as_bytes(), "B", 10)
                .map(|p| p[0].body.to_vec())
                .map_err(|e| e.reason())
        };
        assert_eq!(
            part("base64", "eyJlbWFp\r\nbCI6MX0="),
            Ok(b"{\"email\":1}".to_vec())
        );
        assert_eq!(
            part("BASE64", " eyJl bWFpbCI6MX0= "),
            Ok(b"{\"email\":1}".to_vec())
        );
        assert_eq!(
            part("quoted-printable", "a=40b.example=\r\n,=C3=A9"),
            Ok("a@b.example,é".as_bytes().to_vec())
        );
        assert_eq!(part("7bit", "x"), Ok(b"x".to_vec()));
        assert_eq!(
            part("base64", "*not base64*"),
            Err("invalid_content_encoding")
        );
        assert_eq!(
            part("quoted-printable", "a=ZZ"),
            Err("invalid_content_encoding")
        );
        assert_eq!(part("x-uuencode", "x"), Err("unsupported_content_encoding"));
    }

    #[test]
    fn malformed_and_limits() {
        assert_eq!(
            parse(b"--B\r\n\r\nunterminated", "B", 10).err(),
            Some(InspectError::InvalidMultipart)
        );
        assert_eq!(
            parse(b"no delimiter at all", "B", 10).err(),
            Some(InspectError::InvalidMultipart)
        );
        let many = "--B\r\n\r\nx\r\n".repeat(5) + "--B--";
        assert!(matches!(
            parse(many.as_bytes(), "B", 3),
            Err(InspectError::Limit { .. })
        ));
    }
}
