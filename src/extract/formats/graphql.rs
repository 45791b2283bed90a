//! GraphQL (`application/graphql`, and the `query` of a JSON request): the literals a
//! document passes inline are fields. Every field or directive with arguments becomes a
//! member named after it whose object holds its arguments
//! (`createUser(input: {email: "..", country: DE})` is
//! `{"createUser": {"input": {"email": "..", "country": "DE"}}}`), and a variable's
//! default value a member named `$variable`. Enum values are strings (`country: DE`);
//! variables passed by name are skipped here, as their values arrive in `variables`,
//! which is JSON.
//!
//! Read from `apollo-parser`'s lexer, token by token, without its syntax tree (which
//! takes ~8 bytes a byte of document): only the argument lists are parsed, and a token
//! the lexer rejects or an argument list that is not `name: value, ...` is invalid.

use apollo_parser::{Lexer, Token, TokenKind};

use super::{JsonOut, Structured, invalid};
use crate::extract::InspectError;

const KEYWORDS: [&str; 4] = ["query", "mutation", "subscription", "fragment"];

/// Whether `t` starts as a GraphQL executable document does: an operation keyword, or
/// the `{` of a shorthand query that passes arguments (a `(` soon after).
pub fn looks_like(t: &str) -> bool {
    let t = t.trim_start();
    for kw in KEYWORDS {
        if let Some(rest) = t.strip_prefix(kw)
            && rest.starts_with(|c: char| c.is_whitespace() || c == '{' || c == '(')
        {
            return true;
        }
    }
    let Some(rest) = t.strip_prefix('{') else {
        return false;
    };
    let rest = rest.trim_start();
    rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && rest.bytes().take(256).any(|b| b == b'(')
}

/// The tokens that mean something (no whitespace, comments or commas); the comments'
/// text is kept, to be read as prose (a server ignores them, but they travel).
struct Tokens<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Token<'a>>,
    comments: Vec<&'a str>,
}

impl<'a> Tokens<'a> {
    fn next(&mut self) -> Result<Token<'a>, InspectError> {
        if let Some(t) = self.peeked.take() {
            return Ok(t);
        }
        loop {
            let t = self
                .lexer
                .next()
                .ok_or_else(|| invalid(Structured::Graphql))?
                .map_err(|_| invalid(Structured::Graphql))?;
            match t.kind() {
                TokenKind::Whitespace | TokenKind::Comma => {}
                TokenKind::Comment => self.comments.push(t.data()),
                _ => return Ok(t),
            }
        }
    }
    fn peek(&mut self) -> Result<TokenKind, InspectError> {
        let t = self.next()?;
        let k = t.kind();
        self.peeked = Some(t);
        Ok(k)
    }
    fn expect(&mut self, kind: TokenKind) -> Result<Token<'a>, InspectError> {
        let t = self.next()?;
        if t.kind() == kind {
            Ok(t)
        } else {
            Err(invalid(Structured::Graphql))
        }
    }
}

/// The document's inline literals as a JSON object; `None` when it passes none.
pub fn to_json(text: &str, max_depth: usize) -> Result<Option<String>, InspectError> {
    let mut tokens = Tokens {
        lexer: Lexer::new(text),
        peeked: None,
        comments: Vec::new(),
    };
    let mut out = JsonOut::default();
    out.text.reserve(text.len() / 2);
    out.open('{');
    let mut last_name: Option<&str> = None;
    loop {
        let t = tokens.next()?;
        match t.kind() {
            TokenKind::Eof => break,
            TokenKind::Name => last_name = Some(t.data()),
            TokenKind::LParen => {
                arguments(
                    &mut tokens,
                    &mut out,
                    last_name.unwrap_or("arguments"),
                    max_depth,
                )?;
                last_name = None;
            }
            _ => last_name = None,
        }
    }
    for c in std::mem::take(&mut tokens.comments) {
        out.key("#comment");
        out.string(c.trim_start_matches('#').trim());
    }
    out.close('}');
    Ok((out.text.len() > 2).then_some(out.text))
}

/// An argument list after its `(`: arguments (`name: value`) or variable definitions
/// (`$name: Type = default`), up to the `)`.
fn arguments(
    tokens: &mut Tokens<'_>,
    out: &mut JsonOut,
    owner: &str,
    max_depth: usize,
) -> Result<(), InspectError> {
    let mut opened = false;
    loop {
        let t = tokens.next()?;
        match t.kind() {
            TokenKind::RParen => break,
            TokenKind::Dollar => {
                let name = tokens.expect(TokenKind::Name)?.data();
                tokens.expect(TokenKind::Colon)?;
                skip_type(tokens)?;
                if tokens.peek()? == TokenKind::Eq {
                    tokens.next()?;
                    out.key(&format!("${name}"));
                    value(tokens, out, 0, max_depth)?;
                }
            }
            // a directive on a variable definition, with its own arguments
            TokenKind::At => {
                let name = tokens.expect(TokenKind::Name)?.data();
                if tokens.peek()? == TokenKind::LParen {
                    tokens.next()?;
                    arguments(tokens, out, name, max_depth)?;
                }
            }
            TokenKind::Name => {
                tokens.expect(TokenKind::Colon)?;
                if !opened {
                    out.key(owner);
                    out.open('{');
                    opened = true;
                }
                if tokens.peek()? == TokenKind::Dollar {
                    tokens.next()?;
                    tokens.expect(TokenKind::Name)?;
                    continue;
                }
                out.key(t.data());
                value(tokens, out, 0, max_depth)?;
            }
            _ => return Err(invalid(Structured::Graphql)),
        }
    }
    if opened {
        out.close('}');
    }
    Ok(())
}

/// A variable's type: `Name`, `[Type]`, each perhaps with `!`.
fn skip_type(tokens: &mut Tokens<'_>) -> Result<(), InspectError> {
    let mut open = 0usize;
    loop {
        match tokens.next()?.kind() {
            TokenKind::LBracket => open += 1,
            TokenKind::Name => {}
            _ => return Err(invalid(Structured::Graphql)),
        }
        loop {
            match tokens.peek()? {
                TokenKind::Bang => {}
                TokenKind::RBracket if open > 0 => open -= 1,
                _ => break,
            }
            tokens.next()?;
        }
        if open == 0 {
            return Ok(());
        }
    }
}

fn value(
    tokens: &mut Tokens<'_>,
    out: &mut JsonOut,
    depth: usize,
    max_depth: usize,
) -> Result<(), InspectError> {
    if depth >= max_depth {
        return Err(InspectError::TooDeep);
    }
    let t = tokens.next()?;
    match t.kind() {
        TokenKind::Dollar => {
            tokens.expect(TokenKind::Name)?;
            out.raw("null");
        }
        TokenKind::StringValue => out.string(&string(t.data())?),
        TokenKind::Int | TokenKind::Float => out.raw(t.data()),
        TokenKind::Name => match t.data() {
            "true" | "false" | "null" => out.raw(t.data()),
            enum_value => out.string(enum_value),
        },
        TokenKind::LBracket => {
            out.open('[');
            while tokens.peek()? != TokenKind::RBracket {
                value(tokens, out, depth + 1, max_depth)?;
            }
            tokens.next()?;
            out.close(']');
        }
        TokenKind::LCurly => {
            out.open('{');
            while tokens.peek()? != TokenKind::RCurly {
                let name = tokens.expect(TokenKind::Name)?.data();
                tokens.expect(TokenKind::Colon)?;
                if tokens.peek()? == TokenKind::Dollar {
                    tokens.next()?;
                    tokens.expect(TokenKind::Name)?;
                    continue;
                }
                out.key(name);
                value(tokens, out, depth + 1, max_depth)?;
            }
            tokens.next()?;
            out.close('}');
        }
        _ => return Err(invalid(Structured::Graphql)),
    }
    Ok(())
}

/// A string token's value: a block string (`"""..."""`) as written, its `\"""`
/// unescaped; a quoted string by JSON's escapes, which GraphQL's are (a `\u{...}` form
/// JSON lacks is invalid).
fn string(raw: &str) -> Result<String, InspectError> {
    if let Some(block) = raw
        .strip_prefix("\"\"\"")
        .and_then(|r| r.strip_suffix("\"\"\""))
    {
        let lines: Vec<&str> = block.lines().collect();
        let indent = lines
            .iter()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        let text: Vec<&str> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                if i == 0 {
                    *l
                } else {
                    l.get(indent..).unwrap_or("")
                }
            })
            .collect();
        return Ok(text.join("\n").trim().replace("\\\"\"\"", "\"\"\""));
    }
    serde_json::from_str(raw).map_err(|_| invalid(Structured::Graphql))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(q: &str) -> serde_json::Value {
        serde_json::from_str(&to_json(q, 64).unwrap().unwrap()).unwrap()
    }

    #[test]
    fn inline_arguments_are_fields() {
        let v = json(
            r#"mutation Add($tz: String = "Europe/Berlin" @meta(note: "x"), $id: [ID!]!) {
                createUser(input: {email: "a@b.example", country: DE, tags: ["x", 2], ip: $ip, age: 41, ok: true}) {
                    id
                    friends(first: 3) @include(if: true) { name }
                }
            }"#,
        );
        let input = &v["createUser"]["input"];
        assert_eq!(input["email"], "a@b.example");
        assert_eq!(input["country"], "DE");
        assert_eq!(input["tags"][1], 2);
        assert_eq!(input["age"], 41);
        assert!(input.get("ip").is_none());
        assert_eq!(v["friends"]["first"], 3);
        assert_eq!(v["include"]["if"], true);
        assert_eq!(v["$tz"], "Europe/Berlin");
        assert_eq!(v["meta"]["note"], "x");
        let commented = json("# reach me at a@b.example\n{ user(id: 1) { id } }");
        assert_eq!(commented["#comment"], "reach me at a@b.example");
        let block = json("{ user(bio: \"\"\"lives in\n  \"Berlin\" now\"\"\") { id } }");
        assert_eq!(block["user"]["bio"], "lives in\n\"Berlin\" now");
    }

    #[test]
    fn a_query_without_arguments_has_no_fields_and_broken_ones_are_invalid() {
        assert_eq!(to_json("query { products { id name } }", 64), Ok(None));
        assert_eq!(
            to_json("mutation { a(b: ) }", 64).map_err(|e| e.reason()),
            Err("invalid_graphql")
        );
        assert_eq!(
            to_json("query about my order (see attached)", 64).map_err(|e| e.reason()),
            Err("invalid_graphql")
        );
        let deep = format!("{{ a(b: {}1{}) }}", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            to_json(&deep, 64).map_err(|e| e.reason()),
            Err("nesting_too_deep")
        );
    }

    #[test]
    fn only_documents_are_sniffed() {
        for (t, want) in [
            ("query { a }", true),
            ("mutation{a(b:1){c}}", true),
            ("{ user(id: 1) { name } }", true),
            ("{\"a\": 1}", false),
            ("queryable text", false),
            ("{ a }", false),
        ] {
            assert_eq!(looks_like(t), want, "{t}");
        }
    }
}
