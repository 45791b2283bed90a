//! Policy diagnostics: what is wrong, where (line:column with the offending line and a
//! caret), and a hint. Messages follow Cedar's style: lower case, no final period, user
//! input in backticks, no Rust type names.

use std::ops::Range;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiagKind {
    Syntax,
    UnknownKey,
    WrongType,
    MissingKey,
    InvalidValue,
    UnknownCountry,
    UnknownSet,
    UnknownRegion,
    UnknownJurisdiction,
    UnknownUpstream,
    UnknownProfile,
    NoAllowedRegion,
    OverlappingJurisdictions,
    OverlappingRegions,
    RerouteViolates,
    InvalidUrl,
    InvalidSelector,
    DuplicateName,
    Unused,
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    pub kind: DiagKind,
    pub message: String,
    pub span: Option<Range<usize>>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(kind: DiagKind, message: impl Into<String>, span: Option<Range<usize>>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            kind,
            message: message.into(),
            span,
            help: None,
        }
    }
    pub fn warning(kind: DiagKind, message: impl Into<String>, span: Option<Range<usize>>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            kind,
            message: message.into(),
            span,
            help: None,
        }
    }
    pub fn with_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A diagnostic placed in its source: 1-based line and column (in characters).
#[derive(Debug, Clone, Serialize)]
pub struct Located {
    pub severity: Severity,
    pub kind: DiagKind,
    pub message: String,
    pub line: usize,
    pub column: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(skip)]
    pub source_line: String,
    #[serde(skip)]
    pub caret_len: usize,
}

pub fn locate(src: &str, d: &Diagnostic) -> Located {
    let (line, column, source_line, caret_len) = match &d.span {
        Some(span) => {
            let start = span.start.min(src.len());
            let line_start = src[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
            let line_end = src[start..]
                .find('\n')
                .map(|i| start + i)
                .unwrap_or(src.len());
            let line = src[..start].matches('\n').count() + 1;
            let column = src[line_start..start].chars().count() + 1;
            let end = span.end.clamp(start, line_end);
            let caret = src[start..end].chars().count().max(1);
            (
                line,
                column,
                src[line_start..line_end].trim_end_matches('\r').to_string(),
                caret,
            )
        }
        None => (1, 1, String::new(), 0),
    };
    Located {
        severity: d.severity,
        kind: d.kind.clone(),
        message: d.message.clone(),
        line,
        column,
        help: d.help.clone(),
        source_line,
        caret_len,
    }
}

/// Renders diagnostics the way compilers do:
///
/// ```text
/// error: unknown region `euu`
///   --> config/policy.toml:42:21
///    |
/// 42 | allowed_regions = ["euu"]
///    |                    ^^^^^
///    = help: did you mean `eu`?
/// ```
pub fn render(path: &str, src: &str, diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let l = locate(src, d);
        let sev = match l.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        out.push_str(&format!("{sev}: {}\n", l.message));
        if d.span.is_some() {
            let num = l.line.to_string();
            let pad = " ".repeat(num.len());
            out.push_str(&format!("{pad}--> {path}:{}:{}\n", l.line, l.column));
            out.push_str(&format!("{pad} |\n"));
            out.push_str(&format!("{num} | {}\n", l.source_line));
            let lead: String = l
                .source_line
                .chars()
                .take(l.column - 1)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            out.push_str(&format!("{pad} | {lead}{}\n", "^".repeat(l.caret_len)));
            if let Some(h) = &l.help {
                out.push_str(&format!("{pad} = help: {h}\n"));
            }
        } else {
            out.push_str(&format!("  --> {path}\n"));
            if let Some(h) = &l.help {
                out.push_str(&format!("  = help: {h}\n"));
            }
        }
        out.push('\n');
    }
    out
}

/// "did you mean `x`?" for the closest candidate within a small edit distance.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let lower = input.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = levenshtein(&lower, &c.to_lowercase());
        let limit = (c.chars().count().max(input.chars().count()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("euu", ["us", "eu", "uk"]).as_deref(),
            Some("did you mean `eu`?")
        );
        assert_eq!(
            did_you_mean("EAA", ["US", "EEA", "UK"]).as_deref(),
            Some("did you mean `EEA`?")
        );
        assert_eq!(did_you_mean("zzzzzz", ["us", "eu"]), None);
    }

    #[test]
    fn locates_line_and_column() {
        let src = "a = 1\nb = \"xyz\"\n";
        let d = Diagnostic::error(DiagKind::InvalidValue, "bad", Some(10..15));
        let l = locate(src, &d);
        assert_eq!((l.line, l.column, l.caret_len), (2, 5, 5));
        assert_eq!(l.source_line, "b = \"xyz\"");
        let r = render("p.toml", src, &[d]);
        assert!(r.contains("--> p.toml:2:5"), "{r}");
        assert!(r.contains("2 | b = \"xyz\"\n  |     ^^^^^"), "{r}");
    }
}
