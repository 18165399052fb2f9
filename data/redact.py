"""Redaction: secrets and personal data are replaced by a [kind] placeholder before anything is stored
for training. Every way data enters (Slack, import) goes through `redact`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# Order matters: longer, more specific patterns first so that a key is not half-eaten by the phone rule.
PATTERNS: list[tuple[str, re.Pattern]] = [
    ("private_key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)),
    ("token", re.compile(r"\b(?:xox[abposr]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{16,}"
                         r"|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|AIza[0-9A-Za-z_-]{35})")),
    ("password", re.compile(r"(?i)(?:password|passwd|pwd|パスワード|暗証番号)\s*(?:is|は|[:：=])\s*[^\s、。,]+")),
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")),
    ("phone", re.compile(r"(?<![\w.-])(?:\+\d{1,3}[\s-]?)?(?:\(?0\d{1,4}\)?[\s-]?\d{1,4}[\s-]?\d{3,4}"
                         r"|\d{3}[\s-]\d{3}[\s-]\d{4})(?![\w-]|\.\d)")),
]


@dataclass
class Redaction:
    text: str
    kinds: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.kinds)


def redact(text: str) -> Redaction:
    kinds: list[str] = []
    for kind, pattern in PATTERNS:
        text, count = pattern.subn(f"[{kind}]", text)
        kinds += [kind] * count
    return Redaction(text=text, kinds=kinds)
