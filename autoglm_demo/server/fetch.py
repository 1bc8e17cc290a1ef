"""Fetching image URLs, only from hosts the operator allowed, within a time and size budget.

A server that fetches whatever URL a request names can be pointed at its own network
(server-side request forgery). So nothing is fetched unless its host is on the
--image-url-hosts allow-list, redirects are followed by hand with every hop checked
against the same list (a redirect to a private address is refused like any other host),
and the download stops at a size cap. The URL is checked as httpx parsed it, the same
object that is then fetched, so no difference between two URL parsers can slip a host
past the list.

A host that drips its bytes would hold the request (and its admission place) for as long
as it likes if each read only had its own timeout, so the whole fetch, redirects included,
has one deadline too.
"""

from __future__ import annotations

import time

import httpx

from autoglm_demo.server.errors import APIError

MAX_REDIRECTS = 3
READ_TIMEOUT_S = 5.0
"""Each connect or read; the deadline is checked between reads, so it is never passed by
more than this."""


def fetch_image(
    url: str, param: str, *, allowed_hosts: tuple[str, ...], max_bytes: int, timeout_s: float
) -> bytes:
    fetch = _Fetch(param, {host.lower() for host in allowed_hosts}, max_bytes, timeout_s)
    try:
        return fetch.run(url)
    except httpx.InvalidURL:
        raise APIError(400, f"{param}: the image URL is not a valid URL.", param=param) from None
    except httpx.HTTPError as error:
        raise APIError(
            400, f"{param}: the image could not be fetched ({type(error).__name__}).", param=param
        ) from None


class _Fetch:
    def __init__(self, param: str, allowed: set[str], max_bytes: int, timeout_s: float) -> None:
        self._param = param
        self._allowed = allowed
        self._max_bytes = max_bytes
        self._timeout_s = timeout_s
        self._deadline = time.monotonic() + timeout_s

    def run(self, url: str) -> bytes:
        timeout = httpx.Timeout(min(READ_TIMEOUT_S, self._timeout_s))
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            target = httpx.URL(url)
            for _ in range(MAX_REDIRECTS + 1):
                self._check_allowed(target)
                with client.stream("GET", target) as response:
                    if response.is_redirect:
                        target = target.join(response.headers.get("location", ""))
                        continue
                    if response.status_code != 200:
                        raise self._error(f"fetching the image gave HTTP {response.status_code}.")
                    return self._read_capped(response)
        raise self._error("the image URL redirected too many times.")

    def _check_allowed(self, url: httpx.URL) -> None:
        self._check_time()
        host = url.host.lower()
        if url.scheme not in ("http", "https") or host not in self._allowed:
            raise self._error(
                f"the server does not fetch images from {url.scheme}://{host or '?'}; "
                "send the image as a data: URI, or ask the operator to allow the host "
                "(--image-url-hosts)."
            )

    def _read_capped(self, response: httpx.Response) -> bytes:
        data = bytearray()
        for chunk in response.iter_bytes():
            self._check_time()
            data.extend(chunk)
            if len(data) > self._max_bytes:
                raise self._error(
                    f"the image at that URL is larger than {self._max_bytes // 2**20} MiB."
                )
        return bytes(data)

    def _check_time(self) -> None:
        if time.monotonic() > self._deadline:
            raise self._error(
                f"fetching the image took longer than {self._timeout_s:g} s, the limit "
                "(--image-url-timeout)."
            )

    def _error(self, problem: str) -> APIError:
        return APIError(400, f"{self._param}: {problem}", param=self._param)
