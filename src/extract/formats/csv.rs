//! CSV and TSV (RFC 4180, `text/tab-separated-values`): the header row names the
//! columns, each further row is one record, written as a JSON object of its columns. A
//! row with more fields than the header names the extra ones by their column number, so
//! nothing in it goes unread. Quoted fields may hold delimiters and line breaks.

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

/// The delimiter that splits the body's first rows (two at least) into the same number
/// of fields, two or more; the one with the most fields when several do.
pub fn delimiter(body: &[u8]) -> Option<u8> {
    let mut best: Option<(usize, u8)> = None;
    for d in DELIMITERS {
        let mut widths = Vec::new();
        for row in reader(body, d).byte_records().take(SNIFF_ROWS) {
            let Ok(row) = row else {
                widths.clear();
                break;
            };
            widths.push(row.len());
        }
        let Some(&w) = widths.first() else { continue };
        if widths.len() >= 2
            && w >= 2
            && widths.iter().all(|x| *x == w)
            && best.is_none_or(|(bw, _)| w > bw)
        {
            best = Some((w, d));
        }
    }
    best.map(|(_, d)| d)
}

/// Hands each row to `each` as a JSON object, with its row number (the header is row 0,
/// its cells named by their column numbers: a header that is data, as a file without
/// one has, is read as a record too; column names are no one's data). A body that does
/// not parse, or is not UTF-8, is refused.
pub fn rows(body: &[u8], delimiter: u8, each: super::Each<'_>) -> Result<(), InspectError> {
    let format = Structured::Csv(delimiter);
    let mut records = reader(body, delimiter).into_byte_records();
    let header: Vec<String> = match records.next() {
        None => return Ok(()),
        Some(h) => utf8_fields(&h.map_err(|_| invalid(format))?)?,
    };
    let numbered: Vec<String> = (0..header.len()).map(|c| c.to_string()).collect();
    each(0, &object(&numbered, &header))?;
    for (i, row) in records.enumerate() {
        let row = row.map_err(|_| invalid(format))?;
        each(i + 1, &object(&header, &utf8_fields(&row)?))?;
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
        assert_eq!(
            out[0]["0"],
            body.split(['\r', '\n', d as char]).next().unwrap()
        );
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
    fn a_non_utf8_body_is_refused() {
        let mut ok = |_: usize, _: &[u8]| Ok(());
        assert_eq!(
            rows(b"a,b\n\xff,x\n", b',', &mut ok).map_err(|e| e.reason()),
            Err("invalid_utf8")
        );
    }
}
