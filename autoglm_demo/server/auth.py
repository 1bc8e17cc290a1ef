"""The optional API key on /v1: a Bearer token, checked in constant time.

Only /v1 is guarded; /health stays open so load balancers and Docker's healthcheck need no
key. The page's own client sends the same key, so setting it never locks the page out.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from autoglm_demo.server.errors import APIError

# auto_error=False: a missing header must become our OpenAI-shaped 401, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="The server's --api-key, when it has one.")


def require_api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    expected: str | None = request.app.state.settings.api_key
    if not expected:
        return
    given = credentials.credentials if credentials else ""
    # compare_digest: its time does not tell how much of a guess was right. On bytes,
    # because it refuses str with non-ASCII characters, which a header can carry.
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise APIError(
            401,
            "Missing or incorrect API key. Send it as 'Authorization: Bearer KEY'.",
            code="invalid_api_key",
        )
