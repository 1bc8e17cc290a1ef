"""Fetching image URLs, only from hosts the operator allowed.

A server that fetches whatever URL a request names can be pointed at its own network
(server-side request forgery). So nothing is fetched unless its host is on the
--image-url-hosts allow-list, redirects are followed by hand with every hop checked
against the same list (a redirect to a private address is refused like any other host),
and the download stops at a size cap.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import httpx

from autoglm_demo.server.errors import APIError

MAX_REDIRECTS = 3
TIMEOUT_S = 10.0


def fetch_image(url: str, param: str, *, allowed_hosts: tuple[str, ...], max_bytes: int) -> bytes:
    try:
        return _fetch(url, param, {host.lower() for host in allowed_hosts}, max_bytes)
    except httpx.HTTPError as error:
        raise APIError(
            400, f"{param}: the image could not be fetched ({type(error).__name__}).", param=param
        ) from None


def _fetch(url: str, param: str, allowed: set[str], max_bytes: int) -> bytes:
    with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            _check_allowed(url, param, allowed)
            with client.stream("GET", url) as response:
                if response.is_redirect:
                    url = urljoin(url, response.headers.get("location", ""))
                    continue
                if response.status_code != 200:
                    raise APIError(
                        400, f"{param}: fetching the image gave HTTP {response.status_code}.",
                        param=param,
                    )
                return _read_capped(response, param, max_bytes)
    raise APIError(400, f"{param}: the image URL redirected too many times.", param=param)


def _check_allowed(url: str, param: str, allowed: set[str]) -> None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or host not in allowed:
        raise APIError(
            400,
            f"{param}: the server does not fetch images from {parts.scheme}://{host or '?'}; "
            "send the image as a data: URI, or ask the operator to allow the host "
            "(--image-url-hosts).",
            param=param,
        )


def _read_capped(response: httpx.Response, param: str, max_bytes: int) -> bytes:
    data = bytearray()
    for chunk in response.iter_bytes():
        data.extend(chunk)
        if len(data) > max_bytes:
            raise APIError(
                400, f"{param}: the image at that URL is larger than {max_bytes // 2**20} MiB.",
                param=param,
            )
    return bytes(data)
