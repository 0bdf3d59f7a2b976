"""The live page (``rtad/scorer/static/``) at ``/``, without swallowing the API's paths.

Each file at the top of the directory is a GET route of its own (``/`` is ``index.html``) and
each sub-directory a static mount. A ``StaticFiles`` mounted at ``/`` would instead match every
path for every method: ``OPTIONS /v1/score`` would answer ``405 Allow: GET, HEAD`` from the
static files rather than ``405 Allow: POST`` from the route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import FileResponse, Response


def mount_live_page(app: FastAPI, directory: Path) -> None:
    """Serve ``directory`` (which holds ``index.html``) at ``/``; none of it is in the API."""
    for path in sorted(directory.iterdir()):
        if path.is_dir():
            app.mount(f"/{path.name}", StaticFiles(directory=path), name=f"live-{path.name}")
        elif not path.name.startswith((".", "_")):
            app.router.add_route(f"/{path.name}", _file(path), ["GET"], include_in_schema=False)
    app.router.add_route("/", _file(directory / "index.html"), ["GET"], include_in_schema=False)


def _file(path: Path) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        return FileResponse(path)

    return serve
