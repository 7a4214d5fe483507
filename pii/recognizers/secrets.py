"""Credentials in code, config and text: the value is replaced, the syntax around it is kept.

Token shapes follow the issuers' published formats (as also catalogued by gitleaks and
detect-secrets): AWS access key ids, GitHub tokens (``gh[pousr]_`` + 36, ``github_pat_`` + 82;
GitHub docs, "About authentication to GitHub"), Slack tokens (``xox[abposr]-``, app-level
``xapp-``; Slack API docs, "Token types"), Google API keys, Stripe live keys, OpenAI keys (``sk-``,
``sk-proj-``), Hugging Face user access tokens (``hf_`` + 34; HF Hub docs, "User access tokens"),
npm access tokens (``npm_`` + 36; npm docs, "About access tokens"), JWTs, PEM private key blocks,
and RFC 6750 bearer credentials (``Authorization: Bearer <b64token>``). A variable named like a
token (``GITHUB_TOKEN=``, ``HF_TOKEN:``, ``token="..."``) holds one when its value looks like a
credential: 16+ characters mixing letters and digits (``pad_token = "[PAD]"`` does not). Assignments to password/secret/token-like names and the password
in a URL's userinfo match the name and end the match's reported span at ``\K`` (``regex``'s
keep-out), so that only the value is replaced: ``password = "hunter2"`` becomes
``password = "<|pii:secret|>"`` and stays valid code. (A look-behind would say the same, but
``regex`` tries a variable-width look-behind at every position: five times slower.)
"""
from __future__ import annotations

import re

from pii.recognizers.base import ContextPatternRecognizer, Rule

_NOT_TOKEN_BEFORE = r"(?<![0-9A-Za-z_\-])"
_NOT_TOKEN_AFTER = r"(?![0-9A-Za-z_\-])"
# A name that says its value is a credential: db_password, SECRET_KEY, apiKey, auth_token, ...
# from its credential word on: a match starts at the word, where the trigger is (what comes before
# it, ``_NAME_PREFIX``, matters only where a name must start its line).
_CREDENTIAL_WORD = r"(?i:passw(?:or)?d|pwd|secret|api[_\-]?key|access[_\-]?key|auth[_\-]?token|access[_\-]?token|private[_\-]?key|client[_\-]?secret)"
_NAME_PREFIX = r"(?i:[a-z0-9_.\-]*)"
_NAME_SUFFIX = r"(?i:[a-z0-9_\-]*)"
_SECRET_WORD = _CREDENTIAL_WORD + _NAME_SUFFIX
# A quoted value that is a literal, not a placeholder (``<|pii:secret|>``, ``${VAR}``,
# ``%(name)s``, ``{{ var }}``) and not an empty/trivial string.
_LITERAL = r"(?!<\||\$\{|\{\{|%\()[^\s\"'`]{4,200}"
# A name ending in "token" (GITHUB_TOKEN, hf_token, accessToken, token); the assignment must follow
# it, so tokenizer/max_tokens are not such names.
_TOKEN_WORD = r"(?:token|Token|TOKEN)"
# A value that looks like a credential: 16+ token characters with a letter and a digit.
_CREDENTIAL = r"(?=[A-Za-z0-9_\-.+/=:~]*[0-9])(?=[A-Za-z0-9_\-.+/=:~]*[A-Za-z])[A-Za-z0-9_\-.+/=:~]{16,500}"

# Characters of an already masked value (``********``, ``xxxx``).
_MASK_CHARS = set("*•·.-_xX#?")


class SecretRecognizer(ContextPatternRecognizer):
    PII_TYPE = "secret"
    # Token prefixes, and the credential words of ``_SECRET_WORD`` in lower, UPPER and
    # Capitalized/camelCase spelling (an explicit list: a case-insensitive group would cost
    # Python's ``re`` its literal fast path, an order of magnitude on text without secrets).
    TRIGGER = re.compile(
        r"AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|xox[abposr]-|xapp-|AIza|_live_|eyJ|://"
        r"|hf_|npm_|sk-|Bearer|bearer"
        r"|pass|PASS|Pass|pwd|PWD|Pwd|secret|SECRET|Secret|key|KEY|Key|token|TOKEN|Token"
    )
    # A match starts at its token prefix or credential word, at most 8 characters before the
    # trigger in it (``private_key``, ``sk_live_``), and a value (<= 500 characters) follows;
    # no context words are looked up. (A longer token, a JWT, is whole: windows end at
    # whitespace or a quote.)
    WINDOW = (16, 600)
    RULES = (
        Rule("aws_access_key_id", _NOT_TOKEN_BEFORE + r"(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}" + _NOT_TOKEN_AFTER, 0.9),
        Rule("github_token", _NOT_TOKEN_BEFORE + r"(?:gh[pousr]_[0-9A-Za-z]{36}|github_pat_[0-9A-Za-z_]{82})"
             + _NOT_TOKEN_AFTER, 0.9),
        Rule("slack_token", _NOT_TOKEN_BEFORE + r"(?:xox[abposr]|xapp)-[0-9A-Za-z\-]{10,100}" + _NOT_TOKEN_AFTER, 0.9),
        Rule("huggingface_token", _NOT_TOKEN_BEFORE + r"hf_[0-9A-Za-z]{34}" + _NOT_TOKEN_AFTER, 0.9),
        Rule("npm_token", _NOT_TOKEN_BEFORE + r"npm_[0-9A-Za-z]{36}" + _NOT_TOKEN_AFTER, 0.9),
        # sk-... (OpenAI; sk-ant- Anthropic): 20+ key characters with a digit, so no English word.
        Rule("sk_api_key", _NOT_TOKEN_BEFORE + r"sk-(?:proj-|svcacct-|admin-|ant-)?(?=[0-9A-Za-z_\-]*[0-9])"
             r"(?=[0-9A-Za-z_\-]*[A-Za-z])[0-9A-Za-z_\-]{20,200}" + _NOT_TOKEN_AFTER, 0.85),
        Rule("bearer", r"[Bb]earer[ \t]{1,3}\K" + _CREDENTIAL + r"(?![A-Za-z0-9_\-.+/=:~])", 0.8),
        Rule("token_assignment", _TOKEN_WORD + r"[\"']?\s{0,3}(?::=|=>|[:=])\s{0,3}[\"'`]?\K"
             + r"(?!<\||\$\{|\{\{|%\()" + _CREDENTIAL + r"(?![A-Za-z0-9_\-.+/=:~])", 0.7),
        Rule("google_api_key", _NOT_TOKEN_BEFORE + r"AIza[0-9A-Za-z_\-]{35}" + _NOT_TOKEN_AFTER, 0.9),
        Rule("stripe_live_key", _NOT_TOKEN_BEFORE + r"(?:sk|rk)_live_[0-9A-Za-z]{24,99}" + _NOT_TOKEN_AFTER, 0.9),
        Rule("jwt", _NOT_TOKEN_BEFORE + r"eyJ[0-9A-Za-z_\-]{8,}\.eyJ[0-9A-Za-z_\-]{8,}\.[0-9A-Za-z_\-]{8,}"
             + _NOT_TOKEN_AFTER, 0.9),
        # name = "value" / name: 'value' / "name": "value" (code, JSON, YAML, TOML)
        Rule("quoted_assignment", _SECRET_WORD + r"[\"']?\s{0,3}(?::=|=>|[:=])\s{0,3}[\"'`]\K"
             + _LITERAL + r"(?=[\"'`])", 0.8),
        # NAME=value lines of .env / shell / properties files, unquoted.
        # The value must not read as code (a call, an index, a dotted name: ``password = get()``,
        # ``password: str``, ``pwd = request.form``).
        # (the line start is checked behind the credential word that a scan finds fast)
        Rule("env_assignment", _CREDENTIAL_WORD + r"(?<=^[ \t]{0,8}(?:export[ \t]+)?" + _NAME_PREFIX + _CREDENTIAL_WORD
             + r")" + _NAME_SUFFIX + r"[ \t]{0,3}[=:][ \t]{0,3}\K"
             + r"(?![\"'`]|[A-Za-z_][A-Za-z0-9_.]*$)(?!<\||\$\{|\{\{|%\()[^\s\"'`()\[\]{}]{4,200}$", 0.7),
        # scheme://user:password@host
        # (the scheme is checked behind the "://" that a scan finds fast)
        Rule("url_password", r"://(?<=[A-Za-z][A-Za-z0-9+.\-]{1,20}://)[^\s:/@\"']{1,64}:\K(?!<\|)[^\s:/@\"']{3,128}(?=@)",
             0.8),
    )

    def validate_result(self, pattern_text: str) -> bool:
        # A value already masked (``Password: ********``) or a template placeholder
        # (``"<your-password>"``) names no secret.
        if set(pattern_text) <= _MASK_CHARS:
            return False
        return not (pattern_text.startswith("<") and pattern_text.endswith(">"))


class PrivateKeyRecognizer(ContextPatternRecognizer):
    """PEM private key blocks (RFC 7468), replaced whole: thousands of characters between the
    BEGIN and END lines, so the whole text is searched (``WINDOW = None``)."""

    PII_TYPE = "secret"
    TRIGGER = re.compile("PRIVATE KEY")
    WINDOW = None
    RULES = (
        Rule("private_key_block", r"-----BEGIN[A-Z ]{0,30} PRIVATE KEY( BLOCK)?-----[\s\S]{16,10000}?"
             r"-----END[A-Z ]{0,30} PRIVATE KEY( BLOCK)?-----", 0.95),
    )
