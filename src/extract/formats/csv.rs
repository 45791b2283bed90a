//! CSV and TSV (RFC 4180, `text/tab-separated-values`): the header row names the
//! columns, each further row is one record, written as a JSON object of its columns. A
//! row with more fields than the header names the extra ones by their column number, so
//! nothing in it goes unread. Quoted fields may hold delimiters and line breaks.
//!
//! Spreadsheet exports are read as spreadsheets write them: an Excel `sep=;` first line
//! names the delimiter; the header is the first row as wide as most of the first rows
//! (a title or a blank line above it is a preamble, read as data under column numbers,
//! as the header row itself is: a file without a header has data there).

use super::{JsonOut, Structured, invalid};
use crate::extract::InspectError;

/// The delimiters tried, in order of preference when several fit.
const DELIMITERS: [u8; 3] = [b',', b'\t', b';'];
/// How many leading rows sniffing compares.
const SNIFF_ROWS: usize = 8;

fn reader(body: &[u8], delimiter: u8) -> ::csv::Reader<&[u8]> {
    ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(body)
}

/// An Excel `sep=X` first line: the delimiter it names, and where the rest begins.
fn excel_sep(body: &[u8]) -> Option<(u8, usize)> {
    body.get(..4).filter(|h| h.eq_ignore_ascii_case(b"sep="))?;
    let d = *body.get(4)?;
    let after = &body[5..];
    let skip = if after.starts_with(b"\r\n") {
        2
    } else if after.starts_with(b"\n") || after.is_empty() {
        usize::from(!after.is_empty())
    } else {
        return None;
    };
    Some((d, 5 + skip))
}

/// The widths of the first rows read with `d`; empty if they do not parse.
fn widths(body: &[u8], d: u8) -> Vec<usize> {
    let mut widths = Vec::new();
    for row in reader(body, d).byte_records().take(SNIFF_ROWS) {
        match row {
            Ok(row) => widths.push(row.len()),
            Err(_) => return Vec::new(),
        }
    }
    widths
}

/// The most common width, and how many rows have it (the widest among equals).
fn modal(widths: &[usize]) -> (usize, usize) {
    let mut best = (0, 0);
    for &w in widths {
        let n = widths.iter().filter(|x| **x == w).count();
        if n > best.1 || (n == best.1 && w > best.0) {
            best = (w, n);
        }
    }
    best
}

/// The delimiter that splits most of the body's first rows (two at least, more than
/// half) into the same number of fields, two or more (a title line above the header
/// does not hide a table); the one with the most fields when several do; or the one an
/// Excel `sep=` line names. Prose with a comma on every line passes too, and is then
/// read as rows whose cells are prose in turn.
pub fn delimiter(body: &[u8]) -> Option<u8> {
    if let Some((d, _)) = excel_sep(body) {
        return Some(d);
    }
    let mut best: Option<(usize, u8)> = None;
    for d in DELIMITERS {
        let widths = widths(body, d);
        let (w, n) = modal(&widths);
        if w >= 2 && n >= 2 && 2 * n > widths.len() && best.is_none_or(|(bw, _)| w > bw) {
            best = Some((w, d));
        }
    }
    best.map(|(_, d)| d)
}

/// The delimiter of a body labelled CSV: as [`delimiter`] sniffs it, else the one under
/// which most of the first rows have the same width of two or more (a preamble above
/// the header), else a comma.
pub fn labelled_delimiter(body: &[u8]) -> u8 {
    if let Some(d) = delimiter(body) {
        return d;
    }
    let mut best = (0, b',');
    for d in DELIMITERS {
        let (w, n) = modal(&widths(body, d));
        if w >= 2 && n > best.0 {
            best = (n, d);
        }
    }
    best.1
}

/// Hands each row to `each` as a JSON object, with its row number (after an Excel
/// `sep=` line). The header is the first row as wide as most of the first rows; it and
/// any rows above it are read as data under their column numbers (column names are no
/// one's data; a file without a header has data there). A body that does not parse, or
/// is not UTF-8, is refused.
pub fn rows(body: &[u8], delimiter: u8, each: super::Each<'_>) -> Result<(), InspectError> {
    let format = Structured::Csv(delimiter);
    let body = match excel_sep(body) {
        Some((d, at)) if d == delimiter => &body[at..],
        _ => body,
    };
    let (width, _) = modal(&widths(body, delimiter));
    let mut records = reader(body, delimiter).into_byte_records().enumerate();
    let mut header: Option<Vec<String>> = None;
    for (i, row) in &mut records {
        let cells = utf8_fields(&row.map_err(|_| invalid(format))?)?;
        let numbered: Vec<String> = (0..cells.len()).map(|c| c.to_string()).collect();
        each(i, &object(&numbered, &cells))?;
        if cells.len() == width || width < 2 {
            header = Some(cells);
            break;
        }
    }
    let Some(header) = header else {
        return Ok(());
    };
    for (i, row) in records {
        let row = row.map_err(|_| invalid(format))?;
        each(i, &object(&header, &utf8_fields(&row)?))?;
    }
    Ok(())
}

/// A row as a JSON object of its cells under the header's names (the column number
/// for a cell past the header's end).
fn object(names: &[String], cells: &[String]) -> Vec<u8> {
    let mut out = JsonOut::default();
    out.open('{');
    for (c, value) in cells.iter().enumerate() {
        match names.get(c) {
            Some(name) => out.key(name),
            None => out.key(&c.to_string()),
        }
        out.string(value);
    }
    out.close('}');
    out.text.into_bytes()
}

fn utf8_fields(row: &::csv::ByteRecord) -> Result<Vec<String>, InspectError> {
    row.iter()
        .map(|f| {
            std::str::from_utf8(f)
                .map(|s| s.trim().to_string())
                .map_err(|_| InspectError::InvalidUtf8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(body: &str, d: u8) -> Vec<serde_json::Value> {
        let mut out: Vec<serde_json::Value> = Vec::new();
        rows(body.as_bytes(), d, &mut |i, j| {
            assert_eq!(i, out.len());
            out.push(serde_json::from_slice(j).unwrap());
            Ok(())
        })
        .unwrap();
        // (row 0 is the header, its cells under their column numbers)
        assert!(out[0].get("0").is_some(), "{:?}", out[0]);
        out.remove(0);
        out
    }

    #[test]
    fn each_row_is_an_object_of_its_named_columns() {
        let got = all(
            "email,country\r\n\"a@b.example, x\",DE\r\nc@d.example,US,extra\n",
            b',',
        );
        assert_eq!(got[0]["email"], "a@b.example, x");
        assert_eq!(got[0]["country"], "DE");
        assert_eq!(got[1]["country"], "US");
        assert_eq!(got[1]["2"], "extra");
        let tsv = all("email\tnationality\na@b.example\tGerman\n", b'\t');
        assert_eq!(tsv[0]["nationality"], "German");
    }

    #[test]
    fn excel_separator_lines_and_preambles_are_read_as_spreadsheets_write_them() {
        let body = "sep=;\r\nemail;ip;country\r\na@b.example;8.8.8.8;DE\r\n";
        assert_eq!(delimiter(body.as_bytes()), Some(b';'));
        assert_eq!(all(body, b';')[0]["country"], "DE");
        let preamble = "Contacts export 2026-12-04\nemail,ip,country\na@b.example,8.8.8.8,DE\nc@d.example,8.8.4.4,US\n";
        let d = labelled_delimiter(preamble.as_bytes());
        assert_eq!(d, b',');
        let mut got = Vec::new();
        rows(preamble.as_bytes(), d, &mut |i, j| {
            got.push((i, serde_json::from_slice::<serde_json::Value>(j).unwrap()));
            Ok(())
        })
        .unwrap();
        assert_eq!(got[0].1["0"], "Contacts export 2026-12-04");
        assert_eq!(got[1].1["2"], "country");
        assert_eq!(got[2].1["country"], "DE");
        assert_eq!(
            got[3],
            (
                3,
                serde_json::json!({"email": "c@d.example", "ip": "8.8.4.4", "country": "US"})
            )
        );
    }

    #[test]
    fn a_non_utf8_body_is_refused() {
        let mut ok = |_: usize, _: &[u8]| Ok(());
        assert_eq!(
            rows(b"a,b\n\xff,x\n", b',', &mut ok).map_err(|e| e.reason()),
            Err("invalid_utf8")
        );
    }
}
