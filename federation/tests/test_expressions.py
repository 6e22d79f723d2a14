"""Claims-matching expressions (SPEC §11): the matcher, table-driven and by property, every
grammar error with where it is, and the guard rails."""

import random
import re
import time

import pytest

from federation.expressions import (
    MAX_LENGTH,
    ExpressionError,
    expression_parse,
    expression_validate,
    issuer_family,
    pattern_compile,
    pattern_hint,
)

GITHUB = "https://token.actions.githubusercontent.com"
KUBERNETES = "https://kubernetes.default.svc.cluster.local"
ENTRA = "https://login.microsoftonline.com/3f9a5e1c-2b7d-4c8e-9a61-5d0f7e2b4c13/v2.0"
REPO = "repo:acme/app"

# --- the matcher ---------------------------------------------------------------------------

MATCHES = [
    # (label, pattern, value, matches)
    ("branch", f"{REPO}:ref:refs/heads/main", f"{REPO}:ref:refs/heads/main", True),
    ("branch, another", f"{REPO}:ref:refs/heads/main", f"{REPO}:ref:refs/heads/dev", False),
    (
        "release branch",
        f"{REPO}:ref:refs/heads/release/*",
        f"{REPO}:ref:refs/heads/release/1.2",
        True,
    ),
    (
        "nested branch vs *",
        f"{REPO}:ref:refs/heads/release/*",
        f"{REPO}:ref:refs/heads/release/a/b",
        False,
    ),
    (
        "nested branch vs **",
        f"{REPO}:ref:refs/heads/release/**",
        f"{REPO}:ref:refs/heads/release/a/b",
        True,
    ),
    (
        "** matches one segment",
        f"{REPO}:ref:refs/heads/release/**",
        f"{REPO}:ref:refs/heads/release/a",
        True,
    ),
    (
        "* needs the slash",
        f"{REPO}:ref:refs/heads/release/*",
        f"{REPO}:ref:refs/heads/release",
        False,
    ),
    ("* may be empty", f"{REPO}:ref:refs/heads/release/*", f"{REPO}:ref:refs/heads/release/", True),
    ("tag", f"{REPO}:ref:refs/tags/v*", f"{REPO}:ref:refs/tags/v1.4.0", True),
    ("tag is not a branch", f"{REPO}:ref:refs/tags/v*", f"{REPO}:ref:refs/heads/v1", False),
    ("environment", f"{REPO}:environment:prod*", f"{REPO}:environment:production", True),
    ("environment, another", f"{REPO}:environment:prod*", f"{REPO}:environment:staging", False),
    ("pull request", f"{REPO}:pull_request", f"{REPO}:pull_request", True),
    ("pull request is not a branch", f"{REPO}:ref:refs/heads/*", f"{REPO}:pull_request", False),
    (
        "extra :evil segment vs *",
        f"{REPO}:ref:refs/heads/*",
        f"{REPO}:ref:refs/heads/main:evil",
        False,
    ),
    (
        "extra :evil segment vs **",
        f"{REPO}:ref:refs/heads/**",
        f"{REPO}:ref:refs/heads/main:evil",
        False,
    ),
    (
        "extra :evil after an exact value",
        f"{REPO}:ref:refs/heads/main",
        f"{REPO}:ref:refs/heads/main:evil",
        False,
    ),
    ("* never crosses ':'", "repo:acme/*", "repo:acme/app:ref:refs/heads/main", False),
    ("another repository", f"{REPO}:ref:refs/heads/*", "repo:acme/app2:ref:refs/heads/main", False),
    (
        "a prefix of the repository",
        f"{REPO}:ref:refs/heads/*",
        "repo:acme/ap:ref:refs/heads/main",
        False,
    ),
    ("case: owner", f"{REPO}:ref:refs/heads/*", "repo:ACME/app:ref:refs/heads/main", False),
    ("case: branch", f"{REPO}:ref:refs/heads/main", f"{REPO}:ref:refs/heads/Main", False),
    ("case: kind", f"{REPO}:ref:refs/heads/*", "REPO:acme/app:ref:refs/heads/main", False),
    (
        "Cyrillic a in the owner",
        f"{REPO}:ref:refs/heads/*",
        "repo:\u0430cme/app:ref:refs/heads/main",
        False,
    ),
    ("fullwidth colon", f"{REPO}:ref:refs/heads/*", f"{REPO}\uff1aref:refs/heads/main", False),
    (
        "fullwidth solidus is no separator",
        f"{REPO}:ref:refs/heads/*",
        f"{REPO}:ref:refs/heads/a\uff0fb",
        True,
    ),
    ("? is one character", f"{REPO}:ref:refs/heads/v?", f"{REPO}:ref:refs/heads/v2", True),
    ("? is not two", f"{REPO}:ref:refs/heads/v?", f"{REPO}:ref:refs/heads/v22", False),
    ("? is not a slash", f"{REPO}:ref:refs/heads/v?x", f"{REPO}:ref:refs/heads/v/x", False),
    ("? is one code point", f"{REPO}:ref:refs/heads/v?", f"{REPO}:ref:refs/heads/v\u00e9", True),
    ("anchored at the start", "ref:refs/heads/*", f"{REPO}:ref:refs/heads/main", False),
    ("anchored at the end", f"{REPO}:ref:refs/heads/ma", f"{REPO}:ref:refs/heads/main", False),
    (
        "two stars in one segment",
        f"{REPO}:ref:refs/heads/*-hotfix-*",
        f"{REPO}:ref:refs/heads/1-hotfix-2",
        True,
    ),
    (
        "two stars, not across /",
        f"{REPO}:ref:refs/heads/*-hotfix-*",
        f"{REPO}:ref:refs/heads/1/x-hotfix-2",
        False,
    ),
    ("Kubernetes namespace", "system:serviceaccount:ci:*", "system:serviceaccount:ci:runner", True),
    (
        "Kubernetes other namespace",
        "system:serviceaccount:ci:*",
        "system:serviceaccount:prod:runner",
        False,
    ),
]


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [case[1:] for case in MATCHES],
    ids=[case[0] for case in MATCHES],
)
def test_patterns_match_segment_by_segment(pattern, value, expected):
    assert pattern_compile(pattern).matches(value) is expected


def _reference(pattern: str) -> re.Pattern:
    """SPEC §11's rules as a regular expression: only for small test inputs."""
    parts = re.split(r"(\*\*|\*|\?)", pattern)
    wildcards = {"**": "[^:]*", "*": "[^/:]*", "?": "[^/:]"}
    return re.compile("".join(wildcards.get(part, re.escape(part)) for part in parts))


def test_the_matcher_agrees_with_the_rules_on_random_inputs():
    # given: small alphabets, so that separators and wildcards collide often
    rng = random.Random(20261204)
    for _ in range(3000):
        pattern = "".join(rng.choice(["a", "b", "/", ":", "*", "**", "?"]) for _ in range(6))
        pattern = re.sub(r"\*{3,}", "**", pattern)
        value = "".join(rng.choice("ab/:") for _ in range(rng.randint(0, 9)))

        # when / then
        expected = _reference(pattern).fullmatch(value) is not None
        assert pattern_compile(pattern).matches(value) is expected, (pattern, value)


def test_a_single_star_never_crosses_a_separator():
    # given
    rng = random.Random(17)
    pattern = pattern_compile("x*y")
    for _ in range(3000):
        middle = "".join(rng.choice("ab/:xy\u0430") for _ in range(rng.randint(0, 8)))
        value = f"x{middle}y"

        # when / then: a match means what * took has no separator
        if pattern.matches(value):
            assert "/" not in middle and ":" not in middle, value
        else:
            assert "/" in middle or ":" in middle, value


def test_matching_time_is_linear_for_a_hostile_value():
    # given: the pattern that makes a backtracking matcher exponential, and values that pass
    # the literal prefix and suffix checks, so the automaton reads all of them
    pattern = pattern_compile("repo:acme/" + "*a" * 40 + "*b")
    refused = "repo:acme/" + "a" * 100_000 + "/b"
    accepted = "repo:acme/" + "a" * 100_000 + "cb"

    # when
    started = time.perf_counter()
    results = (pattern.matches(refused), pattern.matches(accepted))
    elapsed = time.perf_counter() - started

    # then: one pass each (about 0.1 s here; a backtracking matcher would not finish)
    assert results == (False, True)
    assert elapsed < 5.0


# --- expressions ---------------------------------------------------------------------------


def claims(**values):
    return {"sub": f"{REPO}:ref:refs/heads/main", "repository_owner_id": "65", **values}


def test_every_term_must_hold():
    expression = expression_parse(
        f"claims['sub'] matches '{REPO}:ref:refs/heads/*' and claims['repository_owner_id'] eq '65'"
    )

    assert expression.matches(claims())
    assert not expression.matches(claims(repository_owner_id="66"))
    assert not expression.matches(claims(sub=f"{REPO}:pull_request"))


def test_a_missing_or_non_string_claim_fails_its_term():
    expression = expression_parse("claims['sub'] eq 'x' and claims['repository_owner_id'] eq '65'")

    assert not expression.matches({"sub": "x"})
    assert not expression.matches({"sub": "x", "repository_owner_id": 65})
    assert not expression.matches({"sub": ["x"], "repository_owner_id": "65"})


def test_eq_is_exact_and_takes_wildcards_literally():
    expression = expression_parse("claims['sub'] eq 'system:serviceaccount:ci:*'")

    assert expression.matches({"sub": "system:serviceaccount:ci:*"})
    assert not expression.matches({"sub": "system:serviceaccount:ci:runner"})


def test_the_kubernetes_namespace_is_read_from_its_nested_claim():
    expression = expression_parse(
        "claims['sub'] matches 'system:serviceaccount:*:runner' and "
        "claims['kubernetes.io.namespace'] eq 'ci'"
    )
    token = {"sub": "system:serviceaccount:ci:runner", "kubernetes.io": {"namespace": "ci"}}

    assert expression.matches(token)
    # a dotted top-level key is not the nested claim
    assert not expression.matches({"sub": token["sub"], "kubernetes.io.namespace": "ci"})


def test_literals_escape_quotes_and_backslashes():
    expression = expression_parse(r"claims['sub'] eq 'it\'s a \\ path'")

    assert expression.terms[0].literal == "it's a \\ path"
    assert expression.terms[0].text == r"claims['sub'] eq 'it\'s a \\ path'"


def test_blanks_between_tokens_are_free():
    expression = expression_parse(
        "  claims [ 'sub' ]\n matches\t'a:b'   and claims['sub'] eq 'a:b' "
    )

    assert [term.operator for term in expression.terms] == ["matches", "eq"]


GRAMMAR_ERRORS = [
    # (label, expression, message)
    ("empty", "   ", "The expression is empty."),
    (
        "or",
        "claims['sub'] matches 'repo:a/bc:*' or claims['sub'] eq 'x'",
        "Unexpected 'or' at 37: only 'and' is supported in language version 1.",
    ),
    (
        "||",
        "claims['sub'] eq 'x' || claims['sub'] eq 'y'",
        "Unexpected '|' at 22: only 'and' is supported in language version 1.",
    ),
    (
        "unknown operator",
        "claims['sub'] startswith 'x'",
        "Unknown operator 'startswith' at 15: language version 1 has 'matches' and 'eq'.",
    ),
    (
        "missing operator",
        "claims['sub'] 'x'",
        "Unexpected \"'\" at 15: expected 'matches' or 'eq'.",
    ),
    ("no claims", "sub eq 'x'", "Unexpected 'sub' at 1: expected a term, claims['<name>']."),
    (
        "no bracket",
        "claims.sub eq 'x'",
        "Unexpected '.' at 7: expected '[' after 'claims' (claims['<name>']).",
    ),
    (
        "unclosed bracket",
        "claims['sub' eq 'x'",
        "Unexpected 'eq' at 14: expected ']' after the claim's name (claims['<name>']).",
    ),
    (
        "double quotes",
        'claims["sub"] eq "x"',
        "Unexpected '\"' at 8: literals are in single quotes ('...').",
    ),
    (
        "unterminated literal",
        "claims['sub'] eq 'x",
        "The literal opened at 18 is not closed (a ' inside it is written \\').",
    ),
    (
        "unknown escape",
        r"claims['sub'] eq 'a\nb'",
        "Unknown escape at 20: only \\' (a quote) and \\\\ (a backslash) are allowed.",
    ),
    ("empty literal", "claims['sub'] eq ''", "Empty literal at 18."),
    (
        "control character",
        "claims['sub'] eq 'a\tb'",
        "Invisible or control character U+0009 at 20: type the value without it.",
    ),
    (
        "invisible character",
        "claims['sub'] eq 'repo:acme\u200b/app'",
        "Invisible or control character U+200B at 28: type the value without it.",
    ),
    (
        "trailing and",
        "claims['sub'] eq 'x' and",
        "Unexpected end of the expression at 25: expected a term, claims['<name>'].",
    ),
    (
        "two terms without and",
        "claims['sub'] eq 'x' claims['sub'] eq 'y'",
        "Unexpected 'claims' at 22: expected 'and' or the end of the expression.",
    ),
    (
        "parenthesis",
        "(claims['sub'] eq 'x')",
        "Unexpected '(' at 1: expected a term, claims['<name>'].",
    ),
    (
        "three stars",
        "claims['sub'] matches 'repo:acme/***'",
        "'***' at 34: use '*' (within a segment) or '**' (across '/').",
    ),
    (
        "nine terms",
        " and ".join(["claims['sub'] eq 'x'"] * 9),
        "More than 8 terms: the term at 201 is one too many.",
    ),
    (
        "too long",
        "claims['sub'] eq '" + "x" * MAX_LENGTH + "'",
        f"The expression has {MAX_LENGTH + 19} characters; at most {MAX_LENGTH} are allowed.",
    ),
]


@pytest.mark.parametrize(
    ("value", "message"),
    [case[1:] for case in GRAMMAR_ERRORS],
    ids=[case[0] for case in GRAMMAR_ERRORS],
)
def test_every_grammar_error_says_where(value, message):
    with pytest.raises(ExpressionError) as error:
        expression_parse(value)

    assert str(error.value) == message


# --- guard rails ---------------------------------------------------------------------------


def test_issuer_families_are_recognised_by_address_or_listed(settings):
    settings.FEDERATION_GITHUB_ISSUERS = ["https://idp.test/github"]
    settings.FEDERATION_KUBERNETES_ISSUERS = ["https://idp.test/k8s"]

    assert issuer_family(GITHUB) == "github"
    assert issuer_family("https://ghe.example.com/_services/token") == "github"
    assert issuer_family("https://idp.test/github") == "github"
    assert issuer_family(KUBERNETES) == "kubernetes"
    assert issuer_family("https://oidc.eks.eu-west-1.amazonaws.com/id/ABC") == "kubernetes"
    assert issuer_family("https://idp.test/k8s") == "kubernetes"
    assert issuer_family(ENTRA) == "other"
    assert issuer_family("https://token.actions.githubusercontent.com.evil.example") == "other"


GUARD_REFUSALS = [
    # (label, issuer, expression, message start)
    (
        "no subject term",
        GITHUB,
        "claims['repository_owner_id'] eq '65'",
        "Every expression must constrain the subject",
    ),
    (
        "wildcard owner",
        GITHUB,
        "claims['sub'] matches 'repo:*/app:ref:refs/heads/main'",
        "No wildcard in the owner segment of a 'repo:{owner}/...' subject, at 29",
    ),
    (
        "partly wildcard owner",
        GITHUB,
        "claims['sub'] matches 'repo:acme*/app:*'",
        "No wildcard in the owner segment",
    ),
    (
        "? in the owner",
        GITHUB,
        "claims['sub'] matches 'repo:ac?e/app:*'",
        "No wildcard in the owner",
    ),
    ("** as the owner", GITHUB, "claims['sub'] matches 'repo:**'", "No wildcard in the owner"),
    (
        "GitHub-shaped subject at another issuer",
        ENTRA,
        "claims['sub'] matches 'repo:*/app:*'",
        "No wildcard in the owner segment",
    ),
    (
        "GitLab group",
        "https://gitlab.com",
        "claims['sub'] matches 'project_path:*/infra:ref_type:branch:ref:main'",
        "No wildcard in the group segment of a 'project_path:{group}/...' subject",
    ),
    (
        "wildcard kind of subject",
        GITHUB,
        "claims['sub'] matches '*:acme/app:*'",
        "The subject pattern's first segment (before the first ':') must be literal, at 24",
    ),
    (
        "a wildcard GUID",
        ENTRA,
        "claims['sub'] matches '5d2e6a40-*'",
        "The subject pattern's first segment",
    ),
    (
        "a GitHub claim at Entra",
        ENTRA,
        "claims['sub'] eq 'x' and claims['repository_owner_id'] eq '65'",
        "Claim 'repository_owner_id' at 26 is not allowed for this issuer; allowed: sub.",
    ),
    (
        "an undocumented GitHub claim",
        GITHUB,
        f"claims['sub'] matches '{REPO}:*' and claims['actor'] eq 'octocat'",
        "Claim 'actor' at 45 is not allowed for a GitHub Actions issuer",
    ),
    (
        "a namespace at GitHub",
        GITHUB,
        f"claims['sub'] matches '{REPO}:*' and claims['kubernetes.io.namespace'] eq 'ci'",
        "Claim 'kubernetes.io.namespace' at 45 is not allowed for a GitHub Actions issuer",
    ),
]


@pytest.mark.parametrize(
    ("issuer", "value", "message"),
    [case[1:] for case in GUARD_REFUSALS],
    ids=[case[0] for case in GUARD_REFUSALS],
)
def test_guard_rails_refuse(issuer, value, message):
    with pytest.raises(ExpressionError) as error:
        expression_validate(value, issuer=issuer)

    assert str(error.value).startswith(message), str(error.value)


@pytest.mark.parametrize(
    ("issuer", "value"),
    [
        (GITHUB, f"claims['sub'] matches '{REPO}:ref:refs/heads/release/**'"),
        (GITHUB, f"claims['sub'] matches '{REPO}*:*' and claims['repository_owner_id'] eq '65'"),
        (GITHUB, "claims['sub'] matches 'repo:acme/*:environment:prod'"),
        ("https://gitlab.com", "claims['sub'] matches 'project_path:infra/*:ref_type:branch:*'"),
        (KUBERNETES, "claims['sub'] matches 'system:serviceaccount:*:runner'"),
        (KUBERNETES, "claims['sub'] eq 'system:x' and claims['kubernetes.io.namespace'] eq 'ci'"),
        (ENTRA, "claims['sub'] eq '5d2e6a40-8b0f-4c1e-9f3a-27c4d1b8e9a6'"),
    ],
)
def test_guard_rails_allow(issuer, value):
    assert expression_validate(value, issuer=issuer).terms


# --- hints ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "hint"),
    [
        (f"{REPO}:ref:refs/heads/main*", f"{REPO}:ref:refs/heads/Main-x", "differ only in upper"),
        (f"{REPO}:ref:refs/heads/*", f"{REPO}:ref:refs/heads/a/b", "use '**'"),
        (f"{REPO}:ref:refs/heads/*", f"{REPO}:ref:refs/heads/a:evil", "more ':' segments"),
        (f"{REPO}:ref:refs/heads/*/", f"{REPO}:ref:refs/heads/a", "trailing slash"),
        (f"{REPO}:ref:refs/heads/*", f"{REPO}:ref:refs/tags/v1", ""),
    ],
)
def test_near_miss_hints(pattern, value, hint):
    found = pattern_hint(pattern_compile(pattern), value)

    assert (hint in found) if hint else found == ""
