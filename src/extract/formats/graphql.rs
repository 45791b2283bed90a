//! GraphQL (`application/graphql`, and the `query` of a JSON request): the literals a
//! document passes inline are fields. Every field or directive with arguments becomes a
//! member named after it whose object holds its arguments
//! (`createUser(input: {email: "..", country: DE})` is
//! `{"createUser": {"input": {"email": "..", "country": "DE"}}}`), and a variable's
//! default value a member named `$variable`. Enum values are strings (`country: DE`);
//! variables passed by name are skipped here, as their values arrive in `variables`,
//! which is JSON. Parsed by `apollo-parser`; a document with a syntax error is invalid.

use apollo_parser::cst::{self, CstNode};

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

/// The document's inline literals as a JSON object; `None` when it passes none.
pub fn to_json(text: &str, max_depth: usize) -> Result<Option<String>, InspectError> {
    let tree = apollo_parser::Parser::new(text)
        .recursion_limit(max_depth)
        .parse();
    if tree.errors().next().is_some() {
        return Err(if tree.recursion_limit().high >= max_depth {
            InspectError::TooDeep
        } else {
            invalid(Structured::Graphql)
        });
    }
    let mut out = JsonOut::default();
    out.open('{');
    for node in tree.document().syntax().descendants() {
        if let Some(args) = cst::Arguments::cast(node.clone()) {
            let owner = args.syntax().parent();
            let name = owner
                .as_ref()
                .and_then(|p| cst::Field::cast(p.clone()).and_then(|f| f.name()))
                .or_else(|| {
                    owner
                        .as_ref()
                        .and_then(|p| cst::Directive::cast(p.clone()).and_then(|d| d.name()))
                });
            out.key(&name.map_or_else(|| "arguments".to_string(), |n| n.text().to_string()));
            out.open('{');
            for arg in args.arguments() {
                member(&mut out, arg.name(), arg.value(), max_depth)?;
            }
            out.close('}');
        } else if let Some(def) = cst::VariableDefinition::cast(node) {
            let Some(value) = def.default_value().and_then(|d| d.value()) else {
                continue;
            };
            let name = def.variable().and_then(|v| v.name());
            let name = name.map(|n| format!("${}", n.text()));
            out.key(name.as_deref().unwrap_or("$"));
            value_of(&mut out, &value, 0, max_depth)?;
        }
    }
    out.close('}');
    Ok((out.text.len() > 2).then_some(out.text))
}

fn member(
    out: &mut JsonOut,
    name: Option<cst::Name>,
    value: Option<cst::Value>,
    max_depth: usize,
) -> Result<(), InspectError> {
    let (Some(name), Some(value)) = (name, value) else {
        return Err(invalid(Structured::Graphql));
    };
    if matches!(value, cst::Value::Variable(_)) {
        return Ok(());
    }
    out.key(&name.text());
    value_of(out, &value, 0, max_depth)
}

fn value_of(
    out: &mut JsonOut,
    value: &cst::Value,
    depth: usize,
    max_depth: usize,
) -> Result<(), InspectError> {
    if depth >= max_depth {
        return Err(InspectError::TooDeep);
    }
    match value {
        cst::Value::Variable(_) => out.raw("null"),
        cst::Value::StringValue(s) => out.string(&String::from(s)),
        cst::Value::IntValue(v) => out.raw(&v.syntax().text().to_string()),
        cst::Value::FloatValue(v) => out.raw(&v.syntax().text().to_string()),
        cst::Value::BooleanValue(v) => out.raw(&v.syntax().text().to_string()),
        cst::Value::NullValue(_) => out.raw("null"),
        cst::Value::EnumValue(v) => {
            let name = v.name().ok_or_else(|| invalid(Structured::Graphql))?;
            out.string(&name.text());
        }
        cst::Value::ListValue(l) => {
            out.open('[');
            for v in l.values() {
                value_of(out, &v, depth + 1, max_depth)?;
            }
            out.close(']');
        }
        cst::Value::ObjectValue(o) => {
            out.open('{');
            for f in o.object_fields() {
                let (Some(name), Some(v)) = (f.name(), f.value()) else {
                    return Err(invalid(Structured::Graphql));
                };
                if matches!(v, cst::Value::Variable(_)) {
                    continue;
                }
                out.key(&name.text());
                value_of(out, &v, depth + 1, max_depth)?;
            }
            out.close('}');
        }
    }
    Ok(())
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
            r#"mutation Add($tz: String = "Europe/Berlin", $id: ID) {
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
