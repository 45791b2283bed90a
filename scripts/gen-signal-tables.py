#!/usr/bin/env python3
"""Generates customs' country-name, nationality and time-zone tables from public data.

Nothing in the generated files is typed by hand. Inputs (versions pinned; fetch them
with the commands below, then run this script from the repository root):

    npm install --prefix /tmp/cldr cldr-localenames-full@48.2.0 cldr-core@48.2.0 \
        cldr-bcp47@48.2.0 i18n-nationality@1.4.0
    pip download tzdata==2026.6 --no-deps -d /tmp/tzd && (cd /tmp/tzd && unzip -o tzdata-*.whl)
    pip download schwifty --no-deps -d /tmp/schw && (cd /tmp/schw && unzip -o schwifty-*.whl)
    python3 scripts/gen-signal-tables.py /tmp/cldr/node_modules /tmp/tzd/tzdata /tmp/schw/schwifty

Outputs:
  src/tables/names.rs  country names (CLDR, every language below, with
                                        their short and variant forms) and nationality
                                        adjectives (i18n-nationality, MIT; inflected by
                                        the rules in INFLECT) and, in the languages
                                        i18n-nationality lacks (LANGUAGE_ADJ_LANGS),
                                        the adjectives CLDR's language names are
                                        (`niemiecki`, `német`, `germană`: see
                                        `language_adjectives`), normalised as
                                        `crate::country::normalise_name` does, with and
                                        without diacritics. A name that two countries
                                        share in any language is left out unless one
                                        outnumbers the others (see `resolve`): it is
                                        then unreadable, failing closed.
  src/tables/iban.rs    each country's BBAN shape (schwifty's IBAN registry, MIT,
                                        from SWIFT's): `n` digit, `a` capital, `c` either
  src/tables/zones.rs   IANA time zone -> country (tzdata's zone.tab),
                                        with every alias CLDR's BCP 47 data lists.
"""

import json
import os
import sys
import unicodedata

# The languages of the EU and EEA's countries, and of the largest others.
LANGS = [
    "bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "ga", "hr", "hu", "is",
    "it", "lt", "lv", "mt", "nb", "nl", "nn", "pl", "pt", "ro", "sk", "sl", "sv",
    "ar", "id", "ja", "ko", "ru", "tr", "uk", "zh", "zh-Hant", "ca", "eu", "gl",
]
NATIONALITY_LANGS = ["de", "en", "es", "fi", "fr", "it", "nl", "no"]
# Adjective endings per language: the forms agreement gives (deutsch -> deutsche,
# deutscher; français -> française; español -> española).
INFLECT = {
    "de": lambda w: [w, w + "e", w + "er", w + "es", w + "en", w + "em"],
    "fr": lambda w: [w, w + "e", w + "s", w + "es"] + ([w[:-1] + "se", w[:-1] + "ses"] if w.endswith("s") else [])
    + ([w + "ne", w + "nes"] if w.endswith("en") else []),
    "es": lambda w: [w, w + "s"] + ([w[:-1] + "a", w[:-1] + "as", w[:-1] + "os"] if w.endswith("o") else [])
    + ([w + "a", w + "as", w + "es"] if w[-1:] in "ns" or w.endswith("l") else []),
    "it": lambda w: [w] + ([w[:-1] + s for s in "aie"] if w[-1:] in "oa" else [w[:-1] + "i"] if w.endswith("e") else []),
    "nl": lambda w: [w, w + "e"],
    "en": lambda w: [w, w + "s"],
    "fi": lambda w: [w],
    "no": lambda w: [w, w + "e"],
}
# Languages whose nationality adjectives come from CLDR's names of languages: in Polish,
# Portuguese, Hungarian, Romanian and Greek a language's name is its people's adjective
# (`niemiecki` German, `alemão`, `német`, `germană`, `Γερμανικά`); Czech names the
# language with a noun (`němčina`), from which the adjective is made (`německý`). Each
# language stands for one country (see `language_countries`).
LANGUAGE_ADJ_LANGS = ["pl", "pt", "pt-PT", "cs", "hu", "ro", "el"]


def _pl(w):
    if w.endswith("i"):
        return [w, w[:-1] + "a", w + "e"]
    if w.endswith("y"):
        return [w, w[:-1] + "a", w[:-1] + "e"]
    return [w]


def _pt(w):
    if w.endswith("ão"):
        return [w, w[:-2] + "ã", w[:-2] + "ães", w[:-2] + "ãs"]
    if w.endswith("ês"):
        return [w, w[:-2] + "esa", w[:-2] + "eses", w[:-2] + "esas"]
    if w.endswith("o"):
        return [w, w[:-1] + "a", w + "s", w[:-1] + "as"]
    if w.endswith("l"):
        return [w, w + "a", w + "as"]
    return [w, w + "s"]


def _cs(w):
    # němčina -> německý, řečtina -> řecký, francouzština -> francouzský; then the
    # genders and the plural (německá, německé, němečtí is irregular: left out).
    for noun, adj in (("čtina", "cký"), ("ština", "ský"), ("čina", "ecký")):
        if w.endswith(noun):
            a = w[: -len(noun)] + adj
            return [a, a[:-1] + "á", a[:-1] + "é"]
    return []


def _ro(w):
    return [w, w[:-1]] if w.endswith("ă") else [w]


def _el(w):
    # Γερμανικά (the language: neuter plural) -> γερμανικός, γερμανική, γερμανικό
    if w.endswith("ικά"):
        stem = w[:-1]
        return [w, stem + "ός", stem + "ή", stem + "ό", stem + "ές", stem + "οί"]
    return [w]


LANGUAGE_INFLECT = {"pl": _pl, "pt": _pt, "pt-PT": _pt, "cs": _cs, "hu": lambda w: [w], "ro": _ro, "el": _el}
# Territory codes that are no country (regions, groups, pseudo-locales, unknown).
NOT_COUNTRIES = {"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ", "XK"}


def normalise(s):
    """crate::country::normalise_name: alphanumerics only, lower case."""
    return "".join(c.lower() for c in s if c.isalnum())


def plain(s):
    """The same name without diacritics (`Österreich` -> `osterreich`)."""
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def keys(name):
    out = {normalise(name), normalise(plain(name))}
    return {k for k in out if len(k) >= 2}


def country_names(cldr):
    names = {}  # key -> set of countries
    for lang in LANGS:
        path = os.path.join(cldr, "cldr-localenames-full", "main", lang, "territories.json")
        terr = json.load(open(path, encoding="utf-8"))["main"][lang]["localeDisplayNames"]["territories"]
        for code, name in terr.items():
            base = code.split("-")[0]
            if len(base) != 2 or not base.isalpha() or base in NOT_COUNTRIES:
                continue
            # "Bolivia (Plurinational State of)" is also "Bolivia"; what a parenthesis
            # holds ("SAR Hongkong (Chiny)") is another place, not this one.
            head = name.replace("(", ",").split(",")[0].strip()
            for variant in [name, head]:
                for k in keys(variant):
                    names.setdefault(k, set()).add(base)
    return names


def nationalities(cldr):
    out = {}
    for lang in NATIONALITY_LANGS:
        path = os.path.join(cldr, "i18n-nationality", "langs", lang + ".json")
        table = json.load(open(path, encoding="utf-8"))["nationalities"]
        for code, value in table.items():
            if code in NOT_COUNTRIES:
                continue
            cleaned = value
            while "(" in cleaned and ")" in cleaned:
                a, b = cleaned.index("("), cleaned.index(")")
                cleaned = cleaned[:a] + cleaned[b + 1:]
            for word in cleaned.replace("/", ",").split(","):
                word = word.strip().lower()
                if not word:
                    continue
                for form in INFLECT[lang](word):
                    for k in keys(form):
                        out.setdefault(k, set()).add(code)
    return out


def language_countries(cldr):
    """The one country each language stands for, from CLDR's data: the country its code
    names where it is official there (`de` DE, `pt` PT, `hu` HU); else its likely
    region when it is official in at most three countries (`el` GR, `cs` CZ, `sv` SE).
    A language of many countries (English, Arabic, Chinese) stands for none."""
    info = json.load(open(os.path.join(cldr, "cldr-core", "supplemental", "territoryInfo.json"),
                          encoding="utf-8"))["supplemental"]["territoryInfo"]
    likely = json.load(open(os.path.join(cldr, "cldr-core", "supplemental", "likelySubtags.json"),
                            encoding="utf-8"))["supplemental"]["likelySubtags"]
    official = {}
    for cc, v in info.items():
        for lang, p in v.get("languagePopulation", {}).items():
            if p.get("_officialStatus") in ("official", "de_facto_official"):
                official.setdefault(lang, set()).add(cc)
    out = {}
    for lang, where in official.items():
        if "_" in lang or "-" in lang:
            continue
        if lang.upper() in where:
            out[lang] = lang.upper()
            continue
        region = likely.get(lang, "").split("-")[-1]
        if region in where and len(where) <= 3:
            out[lang] = region
    return out


def language_adjectives(cldr):
    countries = language_countries(cldr)
    out = {}
    for loc in LANGUAGE_ADJ_LANGS:
        path = os.path.join(cldr, "cldr-localenames-full", "main", loc, "languages.json")
        names = json.load(open(path, encoding="utf-8"))["main"][loc]["localeDisplayNames"]["languages"]
        for lang, cc in countries.items():
            name = names.get(lang)
            if not name or " " in name or cc in NOT_COUNTRIES:
                continue
            for form in LANGUAGE_INFLECT[loc](name.lower()):
                for k in keys(form):
                    out.setdefault(k, set()).add(cc)
    return out


def zones(cldr, tzdata):
    zone_country = {}
    for line in open(os.path.join(tzdata, "zoneinfo", "zone.tab"), encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        cc, _coords, tz = line.split("\t")[:3]
        zone_country[tz.strip()] = cc
    out = dict(zone_country)
    tz = json.load(open(os.path.join(cldr, "cldr-bcp47", "bcp47", "timezone.json"), encoding="utf-8"))
    for _short, info in tz["keyword"]["u"]["tz"].items():
        if not isinstance(info, dict) or "_alias" not in info:
            continue
        aliases = info["_alias"].split()
        known = {zone_country[a] for a in aliases if a in zone_country}
        if len(known) == 1:
            cc = known.pop()
            for a in aliases:
                out.setdefault(a, cc)
    return out


def rust_str(s):
    return json.dumps(s, ensure_ascii=False)


def populations(cldr):
    path = os.path.join(cldr, "cldr-core", "supplemental", "territoryInfo.json")
    info = json.load(open(path, encoding="utf-8"))["supplemental"]["territoryInfo"]
    return {cc: float(v.get("_population", 0)) for cc, v in info.items()}


def resolve(found, population):
    """One country for a name, or None. A name several places share is the most
    populous one's only when it outnumbers every other at least DOMINANCE times: a
    state beside its own dependencies ("French": FR, not PF; "China": CN, not MO). Two
    comparable countries ("Congolese": CD or CG) leave the name out."""
    if len(found) == 1:
        return next(iter(found))
    ranked = sorted(found, key=lambda c: -population.get(c, 0))
    first, second = population.get(ranked[0], 0), population.get(ranked[1], 0)
    return ranked[0] if first >= DOMINANCE * max(second, 1) else None


DOMINANCE = 50


def write_names(path, names, nats, population):
    rows = []
    dropped = 0
    for k in sorted(set(names) | set(nats)):
        found = names.get(k, set()) | nats.get(k, set())
        cc = resolve(found, population)
        if cc is None:
            dropped += 1
            continue
        rows.append((k, cc))
    with open(path, "w", encoding="utf-8") as f:
        f.write("// @generated by scripts/gen-signal-tables.py from Unicode CLDR 48.2 (territory names in\n")
        f.write(f"// {len(LANGS)} languages), i18n-nationality 1.4.0 (adjectives in {len(NATIONALITY_LANGS)}) and CLDR's\n")
        f.write(f"// language names as adjectives (in {', '.join(LANGUAGE_ADJ_LANGS)}). Do not edit.\n")
        f.write(f"// {len(rows)} names; {dropped} left out because comparable countries share them.\n\n")
        f.write("/// (normalised name, alpha-2), sorted by name.\n")
        f.write("pub const NAMES: &[(&str, &str)] = &[\n")
        for k, cc in rows:
            f.write(f"    ({rust_str(k)}, \"{cc}\"),\n")
        f.write("];\n")
    return len(rows), dropped


def write_zones(path, table):
    with open(path, "w", encoding="utf-8") as f:
        f.write("// @generated by scripts/gen-signal-tables.py from tzdata 2026.6's zone.tab and the\n")
        f.write("// aliases of Unicode CLDR 48.2's BCP 47 time zones. Do not edit.\n\n")
        f.write("/// (IANA zone name, alpha-2), sorted by name.\n")
        f.write("pub const ZONES: &[(&str, &str)] = &[\n")
        for k in sorted(table):
            f.write(f"    ({rust_str(k)}, \"{table[k]}\"),\n")
        f.write("];\n")
    return len(table)


def write_iban(path, schwifty):
    import re
    table = {}
    for name in ("generated.json", "overwrite.json"):
        reg = json.load(open(os.path.join(schwifty, "iban_registry", name), encoding="utf-8"))
        for cc, entry in reg.items():
            spec = entry.get("bban_spec")
            if not spec:
                continue
            shape = "".join(cls * int(n) for n, cls in re.findall(r"(\d+)!([nac])", spec))
            assert len(shape) == entry.get("bban_length", len(shape)), (cc, spec)
            table[cc] = shape
    with open(path, "w", encoding="utf-8") as f:
        f.write("// @generated by scripts/gen-signal-tables.py from schwifty's IBAN registry (MIT; from\n")
        f.write("// SWIFT's registry, with its additions). Do not edit.\n\n")
        f.write("/// (country, BBAN shape: `n` a digit, `a` a capital, `c` either), sorted by country.\n")
        f.write("pub const BBAN: &[(&str, &str)] = &[\n")
        for cc in sorted(table):
            f.write(f"    (\"{cc}\", \"{table[cc]}\"),\n")
        f.write("];\n")
    return len(table)


def main():
    cldr, tzdata, schwifty = sys.argv[1], sys.argv[2], sys.argv[3]
    out = os.path.join("src", "tables")
    os.makedirs(out, exist_ok=True)
    nats = nationalities(cldr)
    for k, found in language_adjectives(cldr).items():
        nats.setdefault(k, set()).update(found)
    n, dropped = write_names(os.path.join(out, "names.rs"), country_names(cldr), nats, populations(cldr))
    z = write_zones(os.path.join(out, "zones.rs"), zones(cldr, tzdata))
    i = write_iban(os.path.join(out, "iban.rs"), schwifty)
    print(f"names: {n} ({dropped} ambiguous left out); zones: {z}; iban countries: {i}")


if __name__ == "__main__":
    main()
