"""Claims-matching expressions of federated credentials, language version 1 (SPEC §11).

Compatible with Entra's flexible federated identity credentials, and stricter:

    claims['sub'] matches 'repo:acme/app:ref:refs/heads/release/*'
        and claims['repository_owner_id'] eq '65'

Grammar (whitespace between tokens is free; `and` is the only connective, at most
MAX_TERMS terms, at most MAX_LENGTH characters)::

    expression := term ( 'and' term )*
    term       := 'claims' '[' literal ']' ( 'matches' | 'eq' ) literal
    literal    := "'" ( any character but ' and \\ | "\\'" | "\\\\" )* "'"

`eq` compares exactly. `matches` compares with a pattern, anchored at both ends, where `*`
is any run of characters within one segment (never `/` or `:`), `**` any run that may
cross `/` but never `:`, and `?` one character that is not `/` or `:`; everything else is
itself, case and all. A pattern is compiled once into a bit-parallel automaton (`Pattern`):
one pass over the value, a few integer operations per character, never backtracking, so a
hostile value costs time linear in its length whatever the pattern.

Guard rails, checked when a credential is saved (`expression_validate`), because a
wildcard trusts whoever can make a matching token:
- every expression constrains `sub`, with a literal first segment (the kind of subject:
  `repo`, `project_path`, `system`...);
- a GitHub-shaped (`repo:{owner}/...`) or GitLab-shaped (`project_path:{group}/...`)
  subject pattern names its owner or group literally, whatever the issuer: `repo:*/app`
  would trust every GitHub account;
- only claims the issuer's family vouches for (`issuer_family`): GitHub's documented ones,
  a Kubernetes service account's namespace, and `sub` for everyone else.

Errors say where: `ExpressionError.message` carries the 1-based position in the value.
Nothing here touches the network or the database.
"""

import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings

LANGUAGE_VERSION = 1
MAX_LENGTH = 1024
MAX_TERMS = 8
OPERATORS = ("matches", "eq")
SEPARATORS = "/:"

GITHUB, KUBERNETES, OTHER = "github", "kubernetes", "other"
FAMILY_NAMES = {GITHUB: "a GitHub Actions", KUBERNETES: "a Kubernetes", OTHER: "this"}
# Claims each family's tokens carry and that name what the workload is (GitHub documents
# these in its OIDC token reference); anything else is `sub` only.
FAMILY_CLAIMS = {
    GITHUB: (
        "sub",
        "repository",
        "repository_id",
        "repository_owner",
        "repository_owner_id",
        "ref",
        "ref_type",
        "environment",
        "job_workflow_ref",
        "workflow_ref",
        "event_name",
        "runner_environment",
    ),
    KUBERNETES: ("sub", "kubernetes.io.namespace"),
    OTHER: ("sub",),
}
# Claims nested in the token: a dotted name is a path, never a top-level key.
_CLAIM_PATHS = {"kubernetes.io.namespace": ("kubernetes.io", "namespace")}
# Subject shapes whose second segment starts with an owner (GitHub) or group (GitLab).
_OWNER_SHAPES = {"repo": "owner", "project_path": "group"}


class ExpressionError(ValueError):
    """Why an expression is refused, with where (1-based) when it is one place."""

    def __init__(self, message: str, position: int | None = None):
        super().__init__(message)
        self.position = position


# --- patterns ------------------------------------------------------------------------------


class Pattern:
    """A `matches` pattern as a bit-parallel NFA (Shift-And with self-loops).

    The pattern is a sequence of items (a character, `?`, `*`, `**`); state i means "items
    before i matched", bit i of an int. Reading a character moves each state over a
    character item that equals it (`_literal`) or over `?` (not a separator), keeps each
    state sitting on a `*` (not a separator) or `**` (not `:`), then lets states sitting on
    a star skip it (adjacent stars are refused, so one step is enough)."""

    __slots__ = (
        "_any",
        "_double",
        "_final",
        "_literal",
        "_skip",
        "_star",
        "_start",
        "prefix",
        "source",
        "suffix",
    )

    def __init__(self, source: str, items: list[str]):
        self.source = source
        self.prefix = ""
        for item in items:
            if item in ("*", "**", "?"):
                break
            self.prefix += item
        self.suffix = ""
        for item in reversed(items):
            if item in ("*", "**", "?"):
                break
            self.suffix = item + self.suffix
        self._literal: dict[str, int] = {}
        self._any = self._star = self._double = self._skip = 0
        for index, item in enumerate(items):
            if item == "?":
                self._any |= 1 << (index + 1)
            elif item == "*":
                self._star |= 1 << index
                self._skip |= 1 << index
            elif item == "**":
                self._double |= 1 << index
                self._skip |= 1 << index
            else:
                self._literal[item] = self._literal.get(item, 0) | 1 << (index + 1)
        self._final = 1 << len(items)
        start = 1 << len(self.prefix)
        self._start = start | (start & self._skip) << 1

    @property
    def has_wildcard(self) -> bool:
        return bool(self._any or self._skip)

    def matches(self, value: str) -> bool:
        if not (value.startswith(self.prefix) and value.endswith(self.suffix)):
            return False
        if not self.has_wildcard:
            return value == self.prefix
        states = self._start
        literal, skip = self._literal, self._skip
        stay_any = self._star | self._double
        for char in value[len(self.prefix) :]:
            moved = (states << 1) & literal.get(char, 0)
            if char == ":":
                states = moved
            elif char == "/":
                states = moved | (states & self._double)
            else:
                states = moved | ((states << 1) & self._any) | (states & stay_any)
            if not states:
                return False
            states |= (states & skip) << 1
        return bool(states & self._final)


def pattern_compile(source: str, position: int = 1) -> Pattern:
    """`source` (a literal's value) as a Pattern; `position` is where the literal's text
    starts in the expression, for errors."""
    items: list[str] = []
    index = 0
    while index < len(source):
        if source[index] == "*":
            run = len(source[index:]) - len(source[index:].lstrip("*"))
            if run > 2:
                raise ExpressionError(
                    f"'{'*' * run}' at {position + index}: use '*' (within a segment) or '**' "
                    "(across '/').",
                    position + index,
                )
            items.append("*" * run)
            index += run
        else:
            items.append(source[index])
            index += 1
    return Pattern(source, items)


# --- parsing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    claim: str
    operator: str  # "matches" or "eq"
    literal: str
    position: int  # of `claims`, 1-based
    literal_position: int  # of the literal's first character, 1-based
    pattern: Pattern | None  # for "matches"

    @property
    def text(self) -> str:
        return f"claims[{_quote(self.claim)}] {self.operator} {_quote(self.literal)}"

    def value_of(self, claims: dict):
        """The claim's value in a token's claims (None when absent)."""
        value = claims
        for key in _CLAIM_PATHS.get(self.claim, (self.claim,)):
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    def matches(self, claims: dict) -> bool:
        value = self.value_of(claims)
        if not isinstance(value, str):
            return False
        if self.pattern is None:
            return value == self.literal
        return self.pattern.matches(value)


@dataclass(frozen=True)
class Expression:
    value: str
    terms: tuple[Term, ...]
    # What a `sub` must start with for any term on `sub` to match (None: no such term): one
    # C-level comparison turns away most of an issuer's other expression credentials on the
    # token path, before any term is evaluated.
    sub_prefix: str | None = field(init=False, default=None, compare=False)

    def __post_init__(self):
        prefixes = [
            term.literal if term.pattern is None else term.pattern.prefix
            for term in self.terms
            if term.claim == "sub"
        ]
        if prefixes:
            object.__setattr__(self, "sub_prefix", max(prefixes, key=len))

    def matches(self, claims: dict) -> bool:
        if self.sub_prefix is not None:
            sub = claims.get("sub")
            if not isinstance(sub, str) or not sub.startswith(self.sub_prefix):
                return False
        return all(term.matches(claims) for term in self.terms)


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class _Scanner:
    def __init__(self, text: str):
        self.text = text
        self.index = 0

    @property
    def position(self) -> int:
        return self.index + 1

    def skip_blanks(self) -> None:
        while self.index < len(self.text) and self.text[self.index].isspace():
            self.index += 1

    def at_end(self) -> bool:
        self.skip_blanks()
        return self.index >= len(self.text)

    def word(self) -> str:
        """The identifier here (letters, digits, `_`), or the one character here."""
        self.skip_blanks()
        start = self.index
        while self.index < len(self.text) and (
            self.text[self.index].isalnum() or self.text[self.index] == "_"
        ):
            self.index += 1
        if self.index == start and self.index < len(self.text):
            self.index += 1
        return self.text[start : self.index]

    def peek(self) -> str:
        saved = self.index
        word = self.word()
        self.index = saved
        return word

    def unexpected(self, expected: str) -> ExpressionError:
        self.skip_blanks()
        if self.index >= len(self.text):
            return ExpressionError(
                f"Unexpected end of the expression at {self.position}: expected {expected}.",
                self.position,
            )
        start = self.position
        word = self.peek()
        shown = f'"{word}"' if word == "'" else _quote(word)
        return ExpressionError(f"Unexpected {shown} at {start}: expected {expected}.", start)

    def expect(self, token: str, expected: str | None = None) -> None:
        self.skip_blanks()
        if self.text.startswith(token, self.index):
            self.index += len(token)
            return
        raise self.unexpected(expected or _quote(token))

    def literal(self) -> tuple[str, int]:
        """A single-quoted literal: its value, and where its text starts."""
        self.skip_blanks()
        if self.index >= len(self.text) or self.text[self.index] != "'":
            if self.index < len(self.text) and self.text[self.index] in '"`':
                raise ExpressionError(
                    f"Unexpected {self.text[self.index]!r} at {self.position}: literals are "
                    "in single quotes ('...').",
                    self.position,
                )
            raise self.unexpected("a literal in single quotes")
        opening = self.position
        self.index += 1
        start = self.position
        chars = []
        while True:
            if self.index >= len(self.text):
                raise ExpressionError(
                    f"The literal opened at {opening} is not closed (a ' inside it is "
                    "written \\').",
                    opening,
                )
            char = self.text[self.index]
            if char == "'":
                self.index += 1
                break
            if char == "\\":
                following = self.text[self.index + 1 : self.index + 2]
                if following not in ("'", "\\"):
                    raise ExpressionError(
                        f"Unknown escape at {self.position}: only \\' (a quote) and \\\\ "
                        "(a backslash) are allowed.",
                        self.position,
                    )
                chars.append(following)
                self.index += 2
                continue
            if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
                raise ExpressionError(
                    f"Invisible or control character U+{ord(char):04X} at {self.position}: "
                    "type the value without it.",
                    self.position,
                )
            chars.append(char)
            self.index += 1
        if not chars:
            raise ExpressionError(f"Empty literal at {opening}.", opening)
        return "".join(chars), start


_TERM_START = "claims['<name>']"


def _term(scanner: _Scanner) -> Term:
    scanner.skip_blanks()
    position = scanner.position
    if scanner.peek() != "claims":
        raise scanner.unexpected(f"a term, {_TERM_START}")
    scanner.word()
    scanner.expect("[", f"'[' after 'claims' ({_TERM_START})")
    claim, _ = scanner.literal()
    scanner.expect("]", f"']' after the claim's name ({_TERM_START})")
    scanner.skip_blanks()
    operator_position = scanner.position
    operator = scanner.word()
    if operator not in OPERATORS:
        if not operator[:1].isalpha():
            scanner.index = operator_position - 1
            raise scanner.unexpected("'matches' or 'eq'")
        raise ExpressionError(
            f"Unknown operator {_quote(operator)} at {operator_position}: language "
            "version 1 has 'matches' and 'eq'.",
            operator_position,
        )
    literal, literal_position = scanner.literal()
    pattern = pattern_compile(literal, literal_position) if operator == "matches" else None
    return Term(claim, operator, literal, position, literal_position, pattern)


@lru_cache(maxsize=2048)
def expression_parse(value: str) -> Expression:
    """The grammar of the module docstring (no guard rails: `expression_validate`).
    Cached: the token path compiles each credential's expression once per process."""
    if not isinstance(value, str) or not value.strip():
        raise ExpressionError("The expression is empty.")
    if len(value) > MAX_LENGTH:
        raise ExpressionError(
            f"The expression has {len(value)} characters; at most {MAX_LENGTH} are allowed."
        )
    scanner = _Scanner(value)
    terms = [_term(scanner)]
    while not scanner.at_end():
        connective_position = scanner.position
        connective = scanner.word()
        if connective != "and":
            if connective in ("or", "not", "&&", "||", "&", "|", "!"):
                raise ExpressionError(
                    f"Unexpected {_quote(connective)} at {connective_position}: only 'and' "
                    "is supported in language version 1.",
                    connective_position,
                )
            scanner.index = connective_position - 1
            raise scanner.unexpected("'and' or the end of the expression")
        terms.append(_term(scanner))
        if len(terms) > MAX_TERMS:
            raise ExpressionError(
                f"More than {MAX_TERMS} terms: the term at {terms[-1].position} is one too many.",
                terms[-1].position,
            )
    return Expression(value, tuple(terms))


# --- guard rails ---------------------------------------------------------------------------


def issuer_family(issuer: str) -> str:
    """GITHUB, KUBERNETES or OTHER: by the issuer's address as each publishes it (GitHub
    and GitHub Enterprise Server; the API server's default, EKS, GKE and AKS issuers), or
    as the operator lists it (FEDERATION_GITHUB_ISSUERS, FEDERATION_KUBERNETES_ISSUERS)."""
    if issuer in settings.FEDERATION_GITHUB_ISSUERS:
        return GITHUB
    if issuer in settings.FEDERATION_KUBERNETES_ISSUERS:
        return KUBERNETES
    try:
        parts = urlsplit(issuer)
    except ValueError:
        return OTHER
    host, path = (parts.hostname or "").lower(), parts.path
    if host == "token.actions.githubusercontent.com" or path.rstrip("/").endswith(
        "/_services/token"
    ):
        return GITHUB
    if (
        host in ("kubernetes.default.svc", "kubernetes.default.svc.cluster.local")
        or (host.startswith("oidc.eks.") and host.endswith(".amazonaws.com"))
        or (host == "container.googleapis.com" and "/clusters/" in path)
        or host.endswith(".oic.prod-aks.azure.com")
    ):
        return KUBERNETES
    return OTHER


def _subject_guard(term: Term) -> None:
    if term.pattern is None:
        return
    literal = term.literal
    first, colon, rest = literal.partition(":")
    if any(char in first for char in "*?"):
        raise ExpressionError(
            "The subject pattern's first segment (before the first ':') must be literal, at "
            f"{term.literal_position}: it says what kind of subject this is.",
            term.literal_position,
        )
    shape = _OWNER_SHAPES.get(first.lower())
    if shape is None or not colon:
        return
    owner = rest
    for separator in SEPARATORS:
        owner = owner.split(separator, 1)[0]
    if not owner or any(char in owner for char in "*?"):
        at = term.literal_position + len(first) + 1
        raise ExpressionError(
            f"No wildcard in the {shape} segment of a '{first}:{{{shape}}}/...' subject, at "
            f"{at}: it would trust every {shape}'s workloads. Name the {shape}, e.g. "
            f"'{first}:my-{shape}/...'.",
            at,
        )


def expression_validate(value: str, *, issuer: str) -> Expression:
    """The expression, parsed, if it passes the guard rails for this issuer; otherwise
    ExpressionError."""
    expression = expression_parse(value)
    family = issuer_family(issuer)
    allowed = FAMILY_CLAIMS[family]
    for term in expression.terms:
        if term.claim not in allowed:
            raise ExpressionError(
                f"Claim {_quote(term.claim)} at {term.position} is not allowed for "
                f"{FAMILY_NAMES[family]} issuer; allowed: {', '.join(allowed)}.",
                term.position,
            )
    subject_terms = [term for term in expression.terms if term.claim == "sub"]
    if not subject_terms:
        raise ExpressionError(
            "Every expression must constrain the subject: add claims['sub'] eq '...' or "
            "claims['sub'] matches '...'."
        )
    for term in subject_terms:
        _subject_guard(term)
    return expression


# --- explanations, for evaluate -------------------------------------------------------------


def pattern_hint(pattern: Pattern, value: str) -> str:
    """Why a value a pattern refuses looks close to matching, when the difference is a usual
    slip; empty otherwise (the caller adds the hints of exact comparisons)."""
    lowered = pattern_compile(pattern.source.lower())
    if lowered.matches(value.lower()):
        return "They differ only in upper/lower case; the comparison is case-sensitive."
    slashes = pattern.source.endswith("/") or value.endswith("/")
    if slashes and pattern_compile(pattern.source.rstrip("/") or "/").matches(value.rstrip("/")):
        return "They differ only by a trailing slash."
    if "*" in pattern.source and "**" not in pattern.source:
        crossing = pattern_compile(pattern.source.replace("*", "**"))
        if crossing.matches(value):
            return "'*' stops at '/': use '**' to match across '/' (e.g. release/a/b)."
    if value.count(":") > pattern.source.count(":"):
        return (
            "The value has more ':' segments than the pattern; no wildcard crosses ':', so "
            "a subject with an extra ':...' segment never matches."
        )
    return ""
