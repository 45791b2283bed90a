#!/usr/bin/env python3
"""Takes facts and test vectors from Microsoft Presidio (MIT licence), nothing else.

    fetch github:microsoft/presidio   (or: git clone https://github.com/microsoft/presidio)
    python3 scripts/extract-presidio.py /path/to/presidio

Writes:
  tests/fixtures/presidio-vectors.json    the positive and negative samples of presidio's
                                          recognizer tests for the kinds customs reads
                                          ({kind, text, positive}), from the first two
                                          parameters (text, expected count) of each
                                          `pytest.mark.parametrize` whose cases are literals
"""

import ast
import json
import os
import subprocess
import sys

# presidio test file -> customs' name for the kind
KINDS = {
    "iban": "iban",
    "credit_card": "card",
    "uk_nino": "uk_nino",
    "us_ssn": "us_ssn",
    "es_nif": "es_nif",
    "es_nie": "es_nie",
    "it_fiscal_code": "it_fiscal_code",
    "pl_pesel": "pl_pesel",
    "fi_personal_identity_code": "fi_personal_identity_code",
    "se_personnummer": "se_personnummer",
    "uk_nhs": "uk_nhs",
    "phone": "phone",
    "ip": "ip",
    "email": "email",
}


def git_show(repo, path):
    # The mirror has no work tree: read from the commit (a checkout works the same).
    full = os.path.join(repo, path)
    if os.path.exists(full):
        return open(full, encoding="utf-8").read()
    return subprocess.run(
        ["git", "--git-dir", os.path.join(repo, ".git") if os.path.isdir(os.path.join(repo, ".git")) else repo,
         "show", "HEAD:" + path],
        check=True, capture_output=True, text=True,
    ).stdout


def commit(repo):
    gd = os.path.join(repo, ".git") if os.path.isdir(os.path.join(repo, ".git")) else repo
    return subprocess.run(["git", "--git-dir", gd, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()


def literal(node):
    try:
        return ast.literal_eval(node)
    except Exception:
        return None


def vectors(repo, name):
    src = git_show(repo, f"presidio-analyzer/tests/test_{name}_recognizer.py")
    out = []
    for node in ast.walk(ast.parse(src)):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if not (isinstance(f, ast.Attribute) and f.attr == "parametrize" and len(node.args) >= 2):
            continue
        names = literal(node.args[0])
        if not isinstance(names, str):
            continue
        names = [n.strip() for n in names.split(",")]
        if len(names) < 2 or names[1] != "expected_len":
            continue
        if not isinstance(node.args[1], (ast.List, ast.Tuple)):
            continue
        for case in node.args[1].elts:
            if not isinstance(case, ast.Tuple) or len(case.elts) < 2:
                continue
            text, count = literal(case.elts[0]), literal(case.elts[1])
            if isinstance(text, str) and isinstance(count, int):
                out.append({"text": text, "positive": count > 0})
    return out


def main():
    repo = sys.argv[1]
    rev = commit(repo)
    cases = []
    for name, kind in KINDS.items():
        for v in vectors(repo, name):
            cases.append({"kind": kind, **v})
    with open(os.path.join("tests", "fixtures", "presidio-vectors.json"), "w", encoding="utf-8") as f:
        json.dump({"source": f"microsoft/presidio@{rev} presidio-analyzer/tests (MIT licence)", "cases": cases},
                  f, ensure_ascii=False, indent=0)
        f.write("\n")
    counts = {}
    for c in cases:
        counts.setdefault(c["kind"], [0, 0])[0 if c["positive"] else 1] += 1
    print(f"vectors: {len(cases)}")
    for k, (p, n) in counts.items():
        print(f"  {k}: {p} positive, {n} negative")


if __name__ == "__main__":
    main()
