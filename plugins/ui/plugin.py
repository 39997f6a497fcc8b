"""The Lockgate Airflow plugin: a "Data health" page in the Airflow 3 web UI.

Registered through the ``airflow.plugins`` entry point (``pyproject.toml``), so installing the
package is enough; nothing goes into ``$AIRFLOW_HOME/plugins``.

* ``fastapi_apps`` mounts the page's app at ``/lockgate`` on the api-server;
* ``external_views`` puts "Data health" in the navigation bar; with a ``url_route`` the UI shows
  the page inside its own layout (an iframe at ``/plugin/data-health``).

Every Airflow process loads plugins (task processes too, for macros), so this module imports
nothing heavy: the FastAPI app is built on the api-server's first request to it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow.sdk.plugins_manager import AirflowPlugin

URL_PREFIX = "/lockgate"
PAGE_PATH = "data-health"
URL_ROUTE = "data-health"

_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

# a tiny SVG of bars, inline (no file to serve, no network)
_ICON = (
    "data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24' fill='none' "
    "stroke='%23718096' stroke-width='2' stroke-linecap='round'><path d='M4 20V10M10 20V4M16 20v-7M22 20H2'/></svg>"
)


class DataHealthApp:
    """ASGI app that builds :func:`lockgate.ui.app.create_app` on first use and hands every request to it."""

    def __init__(self) -> None:
        self._app: Callable[[_Scope, _Receive, _Send], Awaitable[None]] | None = None

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if self._app is None:
            from lockgate.ui.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class LockgatePlugin(AirflowPlugin):
    """Adds the "Data health" page: rows loaded per day, quarantine rate, check history, freshness."""

    name = "lockgate"
    fastapi_apps = [{"app": DataHealthApp(), "url_prefix": URL_PREFIX, "name": "Lockgate data health"}]
    external_views = [
        {
            "name": "Data health",
            # relative to the UI's base URL: the page served by the app above
            "href": f"{URL_PREFIX.lstrip('/')}/{PAGE_PATH}",
            "url_route": URL_ROUTE,
            "destination": "nav",
            "icon": _ICON,
            "nav_top_level": True,
        }
    ]
