"""Redaction: secrets and personal data are replaced by a [kind] placeholder before anything is stored
for training. Every way data enters (Slack, import) goes through `redact` (via `add_pairs`).

Kinds: private_key, token, password, email, card, my_number, phone. Detection runs on a width-folded
view of the text (full-width ASCII -> ASCII, one character for one, so positions still match), so
`０３－１２３４－５６７８` and `ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ` are found like their half-width forms. Lookarounds
name ASCII classes rather than `\\b`, because in Japanese text a word character touches the match
(`taro@example.comまで`). tests/data/redaction_corpus.jsonl measures precision and recall per kind.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_DASH = "\\-‐‑‒–—―−ー"


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int


@dataclass
class Redaction:
    text: str
    kinds: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.kinds)


def fold(text: str) -> str:
    return text.translate(_FOLD)


# --- private keys -------------------------------------------------------------------------------------
_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
                          r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)"
                          r"|PuTTY-User-Key-File-\d+:[\s\S]*?(?:Private-MAC: *[0-9a-fA-F]+|\Z)")
# Public material is long and random-looking too; claimed first so the entropy rule leaves it alone.
_PUBLIC = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*(?:PUBLIC KEY|CERTIFICATE)-----[\s\S]*?"
                     r"-----END (?:[A-Z0-9]+ )*(?:PUBLIC KEY|CERTIFICATE)-----"
                     r"|(?:ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-nistp\d+) AAAA[A-Za-z0-9+/=]+")

# --- tokens --------------------------------------------------------------------------------------------
_KNOWN_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_-])(?:"
    r"xox[abposr]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}"
    r"|https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]+"
    r"|sk-(?:proj-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{16,}|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"
    r"|glpat-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{35}|ya29\.[0-9A-Za-z_-]{20,}|hf_[A-Za-z0-9]{30,}"
    r"|npm_[A-Za-z0-9]{36}|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})")
_TOKEN_LABEL = re.compile(
    r"(?i)(?:api[ _-]?key|apikey|secret(?:[ _-]?key)?|access[ _-]?(?:key|token)|auth[ _-]?token|token"
    r"|client[ _-]?secret|bearer|APIキー|API キー|アクセストークン|トークン|シークレット(?:キー)?)"
    r"\s*(?:is|は|:|=|\s)\s*[\"'「『`]?([A-Za-z0-9_\-./+=]{8,})")
_WORDISH = re.compile(r"[A-Z]?[a-z]{3,}")  # Words and CamelCase parts: names, SSIDs, identifiers.
_TOKEN_LIKE = re.compile(r"(?<![A-Za-z0-9_+/=.-])[A-Za-z0-9_+/=-]{20,}(?![A-Za-z0-9_+/=-])")

# --- passwords -----------------------------------------------------------------------------------------
_QUOTED = r"[\"'“‘「『`](?P<quoted>[^\"'”’」』`\n]{1,64})[\"'”’」』`]"
_PASSWORD_EN = re.compile(
    r"(?i)(?<![A-Za-z])(?:password|passwd|passphrase|passcode|pass ?word|pwd|pw|pin(?: code)?)"
    r"(?:\s*\([^)\n]{1,20}\))?(?:\s+(?:for|of|to|on)\s+[^\n:=.;]{1,40}?)?"
    r"\s*(?P<verb>is|was|'s|’s|:|=|->)\s*(?:" + _QUOTED + r"|(?P<bare>[^\s、。,，;]{3,64}))")
_PASSWORD_PASS = re.compile(r"(?i)(?<![A-Za-z])pass\s*[:=]\s*(?P<bare>[^\s、。,，;]{3,64})")
_PASSWORD_JA = re.compile(
    r"(?:パスワード|パスコード|暗証番号|PINコード|PIN|PW|pw)(?:\s*[（(][^）)\n]{1,15}[）)])?"
    r"(?P<verb>は|:|=)\s*(?:" + _QUOTED + r"|(?P<bare>[!-~]{3,64}?))"
    r"(?=です|でした|だ|で|に|を|と|から|。|、|\s|$|」|）|\))")
_NOT_A_PASSWORD = {"see", "ask", "none", "n/a", "tbd", "required", "optional", "same", "unknown", "blank",
                   "empty", "reset", "changed", "expired", "set"}
_URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^\s:/@]+:([^\s@/]+)@")

# --- e-mail, cards, My Number, phones ------------------------------------------------------------------
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+'-])[A-Za-z0-9._%+-][A-Za-z0-9._%+'-]*@(?:[A-Za-z0-9-]+\.)+([A-Za-z]{2,24})(?![A-Za-z0-9-])")
_FILE_SUFFIXES = {"png", "jpg", "jpeg", "gif", "svg", "webp", "pdf", "js", "ts", "py"}
_DIGIT_RUN = re.compile(r"(?<![\w.-])\d(?:[ -]?\d){11,18}(?![\w]|[.-]\d)", re.ASCII)
_ORDER_CONTEXT = re.compile(r"(?i)(?:order|invoice|tracking|ticket|receipt|account|注文|請求|伝票|追跡|受付|"
                            r"問い合わせ|問合せ|口座|会員)[^\n]{0,12}$")
_PHONE = re.compile(r"(?<![\w.+\-#])(?:\+|\()?\d[\d\s()（）." + _DASH + r"]{6,24}\d(?![\w]|[.:/" + _DASH + r"]\d)", re.ASCII)
_PHONE_CONTEXT = re.compile(r"(?i)(?:phone|tel|fax|call|mobile|電話|携帯|ＴＥＬ|連絡先)[^\n]{0,8}$")


def _entropy(text: str) -> float:
    counts = {c: text.count(c) for c in set(text)}
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _char_class(c: str) -> str:
    return "u" if c.isupper() else "l" if c.islower() else "d" if c.isdigit() else "s"


def _random_looking(value: str) -> bool:
    """Machine-made secrets switch between upper, lower and digits far more often than words or CamelCase."""
    core = value.strip("=")
    if len(core) < 20 or re.fullmatch(r"[0-9a-fA-F-]+", core):  # hex: commit hashes, UUIDs
        return False
    classes = [_char_class(c) for c in core]
    has = set(classes)
    switches = sum(a != b for a, b in zip(classes, classes[1:])) / (len(core) - 1)
    mixed = {"u", "l", "d"} <= has or (len(core) >= 32 and len(has & {"u", "l", "d"}) >= 2)
    wordish = sum(len(w) for w in _WORDISH.findall(core)) / len(core)
    return mixed and switches >= 0.35 and wordish < 0.4 and _entropy(core) >= 3.5


def _secret_like(value: str) -> bool:
    return any(c.isdigit() for c in value) or any(not c.isalnum() for c in value) or \
        (any(c.isupper() for c in value[1:]) and any(c.islower() for c in value))


def _luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        n = int(c) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def my_number_check_digit(first11: str) -> int:
    """The check digit of a 12-digit individual number (総務省令第八十五号 第五条)."""
    total = sum(int(d) * (n + 1 if n <= 6 else n - 5) for n, d in enumerate(reversed(first11), start=1))
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def _private_keys(text: str):
    for m in _PRIVATE_KEY.finditer(text):
        yield m.start(), m.end()


def _known_tokens(text: str):
    for m in _KNOWN_TOKEN.finditer(text):
        yield m.start(), m.end()
    for m in _TOKEN_LABEL.finditer(text):
        if _secret_like(m.group(1)) and any(c.isdigit() for c in m.group(1)):
            yield m.start(1), m.end(1)


def _value_span(m: re.Match) -> tuple[int, int] | None:
    if m.groupdict().get("quoted") is not None:
        return m.start("quoted"), m.end("quoted")
    value = m.group("bare").rstrip(".,?)]}>」』”’")
    if len(value) < 3 or value.casefold() in _NOT_A_PASSWORD or set(value) <= {"*", "x", "X", "•"}:
        return None
    verb = m.groupdict().get("verb")
    if verb not in (":", "=", "->") and not _secret_like(value):
        return None  # "the password is required", 「パスワードはSSOで管理」
    return m.start("bare"), m.start("bare") + len(value)


def _passwords(text: str):
    for pattern in (_PASSWORD_EN, _PASSWORD_JA, _PASSWORD_PASS):
        for m in pattern.finditer(text):
            span = _value_span(m)
            if span:
                yield span
    for m in _URL_PASSWORD.finditer(text):
        yield m.start(1), m.end(1)


def _emails(text: str):
    for m in _EMAIL.finditer(text):
        if m.group(1).lower() not in _FILE_SUFFIXES:
            yield m.start(), m.end()


def _cards(text: str):
    for m in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and digits[0] in "23456" and _luhn(digits):
            yield m.start(), m.end()


def _my_numbers(text: str):
    for m in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if len(digits) == 12 and my_number_check_digit(digits[:11]) == int(digits[11]) \
                and not _ORDER_CONTEXT.search(text[:m.start()]):
            yield m.start(), m.end()


def _is_phone(candidate: str, context: str) -> bool:
    digits = re.sub(r"\D", "", candidate.replace("(0)", ""))
    groups = [g for g in re.split(r"\D+", candidate) if g]
    if candidate.startswith("+"):
        return 8 <= len(digits) <= 15 and (len(groups) >= 2 or len(digits) >= 10)
    if digits.startswith("0") and not digits.startswith("00"):
        if len(groups) == 1:
            return (len(digits) == 11 and digits[:3] in ("050", "070", "080", "090")) or \
                (len(digits) in (10, 11) and bool(_PHONE_CONTEXT.search(context)))
        return len(digits) in (10, 11) and len(groups) in (2, 3, 4) and len(groups[-1]) >= 3
    return len(digits) == 10 and [len(g) for g in groups] == [3, 3, 4] and digits[0] in "23456789" \
        and len(set(re.findall(r"\d(\D+)\d", candidate.strip("()")))) <= 2


def _phones(text: str):
    for m in _PHONE.finditer(text):
        candidate = m.group().rstrip(" )）")
        start = m.start()
        if candidate.startswith("(") and ")" not in candidate:
            candidate, start = candidate[1:], start + 1
        if _is_phone(candidate, text[:start]):
            yield start, start + len(candidate)


def _tokens_by_shape(text: str):
    for m in _TOKEN_LIKE.finditer(text):
        if _random_looking(m.group()):
            yield m.start(), m.end()


def _public_material(text: str):
    for m in _PUBLIC.finditer(text):
        yield m.start(), m.end()


# Order matters: a span claimed by an earlier detector is not looked at again, so specific rules come
# first (a key is not half-eaten by the phone rule, a card is not read as a phone number).
DETECTORS = [("private_key", _private_keys), (None, _public_material), ("token", _known_tokens),
             ("password", _passwords), ("email", _emails), ("card", _cards), ("my_number", _my_numbers),
             ("phone", _phones), ("token", _tokens_by_shape)]


def find(text: str) -> list[Finding]:
    """Every secret or piece of personal data in the text, in order; public keys are recognised and kept."""
    view, claimed = fold(text), []
    for kind, detect in DETECTORS:
        for start, end in detect(view):
            if end > start and not any(start < c.end and c.start < end for c in claimed):
                claimed.append(Finding(kind or "", start, end))
    return sorted((c for c in claimed if c.kind), key=lambda c: c.start)


def redact(text: str) -> Redaction:
    findings = find(text)
    for f in reversed(findings):
        text = text[:f.start] + f"[{f.kind}]" + text[f.end:]
    return Redaction(text=text, kinds=[f.kind for f in findings])
