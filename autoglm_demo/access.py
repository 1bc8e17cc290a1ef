"""The credentials a request shows in its Authorization header: the API key as a Bearer
token, the page login as HTTP Basic. Both are compared in constant time.

Shared by the API's key check (`server/auth.py`), the guard in front of the page's API and
MCP routes, and the page's public endpoints, so that one key and one login mean the same
thing everywhere.
"""

from __future__ import annotations

import base64
import binascii
import hmac

KEY_REFUSED = "Missing or incorrect API key. Send it as 'Authorization: Bearer KEY'."
LOGIN_REFUSED = "Missing or incorrect login. Send the page's USER:PASSWORD as HTTP Basic auth."

Login = tuple[str, str]
"""The page login: (user, password)."""


def bearer_matches(expected: str, authorization: str | None) -> bool:
    """Whether `authorization` is `Bearer <expected>`."""
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and _same(given.strip(), expected)


def basic_matches(login: Login, authorization: str | None) -> bool:
    """Whether `authorization` is HTTP Basic with the page's user and password."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, colon, password = decoded.partition(":")
    # Both compared, whatever the first gives: the time does not tell which one was wrong.
    user_ok = _same(user, login[0])
    return bool(colon) and _same(password, login[1]) and user_ok


def _same(given: str, expected: str) -> bool:
    # compare_digest: its time does not tell how much of a guess was right. On bytes,
    # because it refuses str with non-ASCII characters, which a header can carry.
    return hmac.compare_digest(given.encode(), expected.encode())
