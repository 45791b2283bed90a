//! Content-Encoding: every coding a client may send is decoded before inspection, in
//! the reverse of the order listed (`Content-Encoding: gzip, br` was gzipped, then
//! brotli'd). gzip reads every member of a multi-member stream; deflate accepts zlib-
//! wrapped and raw streams; br and zstd (every frame) are supported. The decoded size
//! is capped (a small compressed body must not inflate past the limit), trailing bytes
//! after a stream are refused, and any other coding is refused. The original bytes, not
//! the decoded ones, are what gets forwarded.

use std::borrow::Cow;
use std::io::Read;

use super::InspectError;

/// How many codings may be stacked.
pub const MAX_CODINGS: usize = 4;

/// How many codings (other than `identity`) a `Content-Encoding` value names.
pub fn codings(content_encoding: &str) -> usize {
    content_encoding
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
        .count()
}

pub fn decode<'a>(
    content_encoding: Option<&str>,
    body: &'a [u8],
    limit: usize,
) -> Result<Cow<'a, [u8]>, InspectError> {
    let Some(ce) = content_encoding else {
        return Ok(Cow::Borrowed(body));
    };
    let codings: Vec<String> = ce
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect();
    if codings.len() > MAX_CODINGS {
        return Err(InspectError::UnsupportedEncoding(format!(
            "{} stacked codings",
            codings.len()
        )));
    }
    let mut data: Cow<'a, [u8]> = Cow::Borrowed(body);
    for coding in codings.iter().rev() {
        let next = match coding.as_str() {
            "gzip" | "x-gzip" => gzip(&data, limit)?,
            "deflate" => deflate(&data, limit)?,
            "br" => brotli(&data, limit)?,
            "zstd" => zstd(&data, limit)?,
            other => {
                return Err(InspectError::UnsupportedEncoding(
                    other.chars().take(32).collect(),
                ));
            }
        };
        data = Cow::Owned(next);
    }
    Ok(data)
}

fn bad(coding: &str) -> InspectError {
    InspectError::InvalidEncoding(coding.to_string())
}

/// Reads `r` to the end, failing once more than `limit` bytes come out.
fn read_capped(mut r: impl Read, limit: usize, coding: &str) -> Result<Vec<u8>, InspectError> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = r.read(&mut buf).map_err(|_| bad(coding))?;
        if n == 0 {
            return Ok(out);
        }
        if out.len() + n > limit {
            return Err(InspectError::DecodedTooLarge(limit));
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn gzip(data: &[u8], limit: usize) -> Result<Vec<u8>, InspectError> {
    if data.is_empty() {
        return Err(bad("gzip"));
    }
    // MultiGzDecoder reads member after member until the input ends; anything after the
    // last member that is not another member is an error.
    read_capped(flate2::bufread::MultiGzDecoder::new(data), limit, "gzip")
}

fn deflate(data: &[u8], limit: usize) -> Result<Vec<u8>, InspectError> {
    let zlib = data.len() >= 2
        && data[0] & 0x0f == 8
        && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0;
    let mut rest: &[u8] = data;
    let out = if zlib {
        let mut d = flate2::bufread::ZlibDecoder::new(&mut rest);
        read_capped(&mut d, limit, "deflate")?
    } else {
        let mut d = flate2::bufread::DeflateDecoder::new(&mut rest);
        read_capped(&mut d, limit, "deflate")?
    };
    if !rest.is_empty() {
        return Err(bad("deflate"));
    }
    Ok(out)
}

fn brotli(data: &[u8], limit: usize) -> Result<Vec<u8>, InspectError> {
    let mut rest: &[u8] = data;
    let out = read_capped(brotli::Decompressor::new(&mut rest, 4096), limit, "br")?;
    if !rest.is_empty() {
        return Err(bad("br"));
    }
    Ok(out)
}

fn zstd(data: &[u8], limit: usize) -> Result<Vec<u8>, InspectError> {
    let d = zstd::stream::read::Decoder::with_buffer(data).map_err(|_| bad("zstd"))?;
    read_capped(d, limit, "zstd")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn every_coding_round_trips() {
        let plain = br#"{"email":"a@example.org"}"#;
        let mut multi = gz(&plain[..10]);
        multi.extend(gz(&plain[10..]));
        assert_eq!(decode(Some("gzip"), &multi, 1000).unwrap().as_ref(), plain);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(plain).unwrap();
        assert_eq!(
            decode(Some("deflate"), &z.finish().unwrap(), 1000)
                .unwrap()
                .as_ref(),
            plain
        );
        let mut raw =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(plain).unwrap();
        assert_eq!(
            decode(Some("deflate"), &raw.finish().unwrap(), 1000)
                .unwrap()
                .as_ref(),
            plain
        );
        let mut br = Vec::new();
        brotli::BrotliCompress(&mut &plain[..], &mut br, &Default::default()).unwrap();
        assert_eq!(decode(Some("br"), &br, 1000).unwrap().as_ref(), plain);
        let zs = zstd::stream::encode_all(&plain[..], 3).unwrap();
        assert_eq!(decode(Some("zstd"), &zs, 1000).unwrap().as_ref(), plain);
        // stacked: gzip first, then zstd
        let stacked = zstd::stream::encode_all(&gz(plain)[..], 3).unwrap();
        assert_eq!(
            decode(Some("gzip, zstd"), &stacked, 1000).unwrap().as_ref(),
            plain
        );
        assert_eq!(
            decode(Some("identity"), plain, 1000).unwrap().as_ref(),
            plain
        );
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            decode(Some("compress"), b"x", 10),
            Err(InspectError::UnsupportedEncoding(_))
        ));
        assert!(matches!(
            decode(Some("gzip"), b"not gzip", 10),
            Err(InspectError::InvalidEncoding(_))
        ));
        let bomb = gz(&vec![b' '; 100_000]);
        assert!(bomb.len() < 1000);
        assert_eq!(
            decode(Some("gzip"), &bomb, 50_000),
            Err(InspectError::DecodedTooLarge(50_000))
        );
        let mut trailing = gz(b"{}");
        trailing.extend(b"junk");
        assert!(decode(Some("gzip"), &trailing, 100).is_err());
    }
}
