//! What a request carries outside its body and the headers a profile names: the URL
//! path's segments (`/users/lukas.weber%40example.org/profile`), and the `Authorization`
//! header's user id (Basic) or token (Bearer: a JSON Web Token's claims are read as a
//! record, see [`super::embedded`]). They are inspected as the query string is, as
//! name/value pairs; a password is never read, and no credential is ever logged.

use base64::Engine as _;

/// The path's segments, percent-decoded, by position. Segments that cannot hide personal
/// data (words: `contacts`, `im-v1`; short numbers and ids: `v1`, `42`, `u12345`) are
/// left out, as are the empty ones.
pub fn path_segments(path: &str) -> Vec<(String, String)> {
    path.split('/')
        .enumerate()
        .filter(|(_, s)| worth_reading(s))
        .map(|(i, s)| (i.to_string(), super::text::percent_decode(s)))
        .collect()
}

/// A segment of letters, `-` and `_` only, or of letters and digits shorter than 7
/// bytes, holds no email, phone, address or identifier (each has an `@`, a `+`, a `.`,
/// a `%`, or seven digits and letters or more among them some digits).
fn worth_reading(s: &str) -> bool {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let word = s
        .bytes()
        .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_');
    !s.is_empty() && !word && (s.len() >= 7 || !s.bytes().all(plain))
}

/// The credentials an `Authorization` header carries, as pairs: `username` (Basic),
/// `bearer` (the token), or `authorization` (another scheme's parameters, as text).
pub fn authorization(h: &http::HeaderMap) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for v in h.get_all(http::header::AUTHORIZATION) {
        let v = String::from_utf8_lossy(v.as_bytes());
        let (scheme, rest) = v.trim().split_once(' ').unwrap_or((v.trim(), ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            // `user:password`, base64: the user id only.
            let user = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .map(|t| t.split_once(':').map_or(t.clone(), |(u, _)| u.to_string()));
            match user {
                Some(u) => out.push(("username".to_string(), u)),
                // Not base64: read as it was sent (it may be the user id itself).
                None => out.push(("authorization".to_string(), rest.to_string())),
            }
        } else if scheme.eq_ignore_ascii_case("bearer") {
            out.push(("bearer".to_string(), rest.to_string()));
        } else {
            out.push(("authorization".to_string(), rest.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_that_can_hold_data_are_read() {
        let got = path_segments("/crm/v1/users/lukas.weber%40example.org/profile/42");
        assert_eq!(
            got,
            vec![("4".to_string(), "lukas.weber@example.org".to_string())]
        );
        assert!(path_segments("/chat/im/v1/messages").is_empty());
        assert!(path_segments("/orders/u12345/lines").is_empty());
        assert!(path_segments("/").is_empty());
        assert_eq!(path_segments("/ip/85.214.132.117")[0].1, "85.214.132.117");
        assert_eq!(path_segments("/call/+493012345678")[0].1, "+493012345678");
    }

    #[test]
    fn credentials_give_the_user_not_the_password() {
        let mut h = http::HeaderMap::new();
        h.append(
            http::header::AUTHORIZATION,
            // lukas.weber@example.org:hunter2
            http::HeaderValue::from_static("Basic bHVrYXMud2ViZXJAZXhhbXBsZS5vcmc6aHVudGVyMg=="),
        );
        h.append(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer abc.def.ghi"),
        );
        let got = authorization(&h);
        assert_eq!(
            got[0],
            (
                "username".to_string(),
                "lukas.weber@example.org".to_string()
            )
        );
        assert_eq!(got[1], ("bearer".to_string(), "abc.def.ghi".to_string()));
        assert!(!got.iter().any(|(_, v)| v.contains("hunter2")));
    }
}
