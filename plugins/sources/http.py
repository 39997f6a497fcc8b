"""HTTP JSON APIs through Airflow's HttpHook: paginated, retried by tenacity (the hook's
``run_with_advanced_retry``) with backoff and ``Retry-After``, spooled as NDJSON."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from lockgate.lineage import LineageDataset
from lockgate.sources.base import NdjsonSpool, Source, Unit

if TYPE_CHECKING:
    from airflow.sdk import Context

    from lockgate.progress import Progress

PAGINATIONS = ("none", "page", "cursor", "link")
#: query parameters never shown in the manifest, logs or errors
_SECRET_PARAMS = ("token", "key", "secret", "password", "passwd", "signature", "sig", "auth", "credential")


def display_url(url: str) -> str:
    """A URL as it may be shown: credentials in the netloc and secret-looking parameters redacted."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = [
        (k, "***" if any(s in k.lower() for s in _SECRET_PARAMS) else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), ""))


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def json_path(document: Any, path: str | None) -> Any:
    """The value at a dotted path (``data.items``); the document itself for an empty path.

    Raises ``KeyError`` naming the first missing step.
    """
    node = document
    for step in (path or "").split(".") if path else []:
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            raise KeyError(step)
    return node


def _transient(response: Any) -> bool:
    """429 and 5xx may get better by asking again; other answers will not."""
    return bool(response.status_code == 429 or response.status_code >= 500)


def _problem(outcome: Any) -> str:
    """What went wrong in one attempt (a tenacity outcome), for logs and errors."""
    if outcome is None:
        return "no answer"
    if outcome.failed:
        return f"connection failed ({type(outcome.exception()).__name__})"
    return f"HTTP {outcome.result().status_code}"


@dataclass(frozen=True)
class _GaveUp:
    """Every attempt got a transient problem; ``problem`` is the last one."""

    problem: str


class HttpSource(Source):
    """Records of a JSON API, every page of one run spooled to one NDJSON file.

    The base URL and the authentication come from the Airflow HTTP connection (login/password,
    headers in its extra); neither headers nor tokens are ever logged or written to the manifest.

    :param http_conn_id: the HTTP connection (base URL, auth, headers).
    :param endpoint: path below the base URL (``v1/readings``). Templated.
    :param params: query parameters (``{"date": "{{ ds }}"}``). Templated.
    :param records_path: dotted path of the list of records in each JSON page (``data``,
        ``results.items``); empty when the page itself is the list.
    :param pagination: ``none``, ``page`` (a page-number parameter), ``cursor`` (the next cursor is
        in the body) or ``link`` (RFC 8288 ``Link: <url>; rel="next"`` header).
    :param page_param: ``page`` pagination: the page-number parameter; ``first_page`` its start.
    :param total_pages_path: ``page`` pagination: dotted path of the page count in the body; without
        it, paging stops at the first empty page.
    :param cursor_path: ``cursor`` pagination: dotted path of the next cursor in the body (missing,
        null or empty: last page); ``cursor_param`` the parameter that sends it back.
    :param max_pages: a safety stop; more pages than this is an error rather than an endless loop.
    :param max_attempts: attempts per page on 429 and 5xx (and connection errors).
    :param backoff: first delay in seconds, doubled per attempt up to ``max_backoff``; a
        ``Retry-After`` header (seconds or an HTTP date) replaces the computed delay, also capped.
    :param timeout: seconds per request.
    :param sleep: the wait function (injectable so tests record delays instead of waiting).
    :param name: the file name in the raw zone (``<name>.ndjson``).
    """

    template_fields = ("endpoint", "params")
    kind = "http"

    def __init__(
        self,
        *,
        endpoint: str,
        http_conn_id: str = "http_default",
        params: dict[str, Any] | None = None,
        records_path: str | None = None,
        pagination: str = "none",
        page_param: str = "page",
        first_page: int = 1,
        total_pages_path: str | None = None,
        cursor_path: str | None = None,
        cursor_param: str = "cursor",
        max_pages: int = 100_000,
        max_attempts: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        name: str = "records",
    ) -> None:
        if pagination not in PAGINATIONS:
            raise ValueError(f"pagination must be one of {', '.join(PAGINATIONS)}, not {pagination!r}")
        if pagination == "cursor" and not cursor_path:
            raise ValueError("cursor pagination needs cursor_path (where the next cursor is in the body)")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.http_conn_id = http_conn_id
        self.endpoint = endpoint
        self.params = dict(params or {})
        self.records_path = records_path
        self.pagination = pagination
        self.page_param = page_param
        self.first_page = first_page
        self.total_pages_path = total_pages_path
        self.cursor_path = cursor_path
        self.cursor_param = cursor_param
        self.max_pages = max_pages
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.sleep = sleep
        self.name = name
        self.pages = 0

    def describe(self) -> str:
        return f"http:{self.http_conn_id}/{self.endpoint.lstrip('/')}"

    def _hook(self) -> Any:
        from airflow.providers.http.hooks.http import HttpHook

        return HttpHook(method="GET", http_conn_id=self.http_conn_id)

    def delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: the server's ``Retry-After`` if it sent
        one, else exponential backoff; both capped by ``max_backoff``."""
        wanted = retry_after_seconds(retry_after)
        if wanted is None:
            wanted = self.backoff * 2 ** (attempt - 1)
        return min(wanted, self.max_backoff)

    def _get(self, hook: Any, endpoint: str, params: dict[str, Any] | None, page: int, log: Any) -> Any:
        """One page through ``HttpHook.run_with_advanced_retry`` (tenacity): 429, 5xx and refused
        connections are retried after :meth:`delay`; other client errors fail at once."""
        import requests
        import tenacity

        url = display_url(hook.url_from_endpoint(endpoint) + (f"?{urlencode(params)}" if params else ""))

        def wait(state: tenacity.RetryCallState) -> float:
            outcome = state.outcome
            retry_after = None if outcome is None or outcome.failed else outcome.result().headers.get("Retry-After")
            return self.delay(state.attempt_number, retry_after)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            wait_s = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "%s (page %d): %s; attempt %d of %d in %.1f s",
                url, page, _problem(state.outcome), state.attempt_number + 1, self.max_attempts, wait_s,
            )  # fmt: skip

        answer = hook.run_with_advanced_retry(
            _retry_args={
                "stop": tenacity.stop_after_attempt(self.max_attempts),
                "wait": wait,
                "retry": tenacity.retry_if_exception_type(requests.ConnectionError)
                | tenacity.retry_if_result(_transient),
                "sleep": self.sleep,
                "before_sleep": before_sleep,
                "retry_error_callback": lambda state: _GaveUp(_problem(state.outcome)),
            },
            endpoint=endpoint,
            data=params,
            extra_options={"check_response": False, "timeout": self.timeout},
        )
        if isinstance(answer, _GaveUp):
            # retryable by Airflow's own task retries: the API may recover later
            raise AirflowException(f"{url} (page {page}): {answer.problem} after {self.max_attempts} attempts")
        if answer.status_code >= 400:
            # other client errors do not get better by asking again
            raise AirflowFailException(f"{url} (page {page}): HTTP {answer.status_code} {answer.reason}")
        return answer

    def _records(self, response: Any, url: str, page: int) -> tuple[Any, list[Any]]:
        try:
            body = response.json()
        except ValueError:
            snippet = response.text[:200]
            raise AirflowFailException(f"{url} (page {page}): the response is not JSON: {snippet!r}") from None
        try:
            records = json_path(body, self.records_path)
        except KeyError as exc:
            raise AirflowFailException(
                f"{url} (page {page}): records path {self.records_path!r} not found in the JSON (no {exc.args[0]!r})"
            ) from None
        if not isinstance(records, list):
            raise AirflowFailException(
                f"{url} (page {page}): records path {self.records_path or '<the page>'!r} is a "
                f"{type(records).__name__}, not a list of records"
            )
        return body, records

    def _next(
        self, hook: Any, body: Any, response: Any, page: int, params: dict[str, Any]
    ) -> tuple[str, dict[str, Any] | None] | None:
        """The (endpoint, params) of the next page, or None after the last one."""
        if self.pagination == "page":
            if self.total_pages_path:
                try:
                    total = int(json_path(body, self.total_pages_path))
                except (KeyError, TypeError, ValueError):
                    raise AirflowFailException(
                        f"{display_url(response.url)} (page {page}): no page count at {self.total_pages_path!r}"
                    ) from None
                if page - self.first_page + 1 >= total:
                    return None
            return self.endpoint, {**params, self.page_param: int(params[self.page_param]) + 1}
        if self.pagination == "cursor":
            try:
                cursor = json_path(body, self.cursor_path)
            except KeyError:
                return None
            if cursor in (None, ""):
                return None
            return self.endpoint, {**params, self.cursor_param: cursor}
        if self.pagination == "link":
            link = (response.links or {}).get("next", {}).get("url")
            if not link:
                return None
            base = hook.url_from_endpoint("")
            if "://" not in link:
                return link, None
            if not link.startswith(base.rstrip("/") + "/") and link != base:
                # never send the connection's credentials to another host
                raise AirflowFailException(
                    f"{display_url(response.url)} (page {page}): the next page {display_url(link)} is outside "
                    f"the connection's base URL {display_url(base)}"
                )
            return link[len(base.rstrip("/")) :], None
        return None

    def units(self, context: Context, workdir: Path, *, log: Any, progress: Progress) -> Iterator[Unit]:
        hook = self._hook()
        path = workdir / f"{self.name}.ndjson"
        spool = NdjsonSpool(path)
        endpoint: str = self.endpoint
        params: dict[str, Any] | None = dict(self.params)
        if self.pagination == "page":
            assert params is not None
            params.setdefault(self.page_param, self.first_page)
        page = 0
        try:
            while True:
                page += 1
                if page > self.max_pages:
                    raise AirflowFailException(f"{self.describe()}: more than max_pages={self.max_pages} pages")
                response = self._get(hook, endpoint, params, page, log)
                url = display_url(response.url)
                body, records = self._records(response, url, page)
                if self.pagination == "page" and not records:
                    break  # an empty page ends page-number pagination
                spool.write(records)
                progress.advance(len(records))
                nxt = self._next(hook, body, response, page, params or {})
                if nxt is None:
                    break
                endpoint, params = nxt
        finally:
            spool.close()
        self.pages = page
        log.info("%s: %d records in %d pages", self.describe(), spool.rows, page)
        base = display_url(hook.url_from_endpoint(self.endpoint))
        parts = urlsplit(base)
        yield Unit(
            name=path.name,
            path=path,
            format="ndjson",
            source=base,
            rows=spool.rows,
            extra={"pages": page},
            lineage=LineageDataset(f"{parts.scheme}://{parts.netloc}", parts.path or "/"),
        )

    def manifest_extra(self) -> dict[str, Any]:
        return {"http": {"endpoint": self.endpoint, "pagination": self.pagination, "pages": self.pages}}
