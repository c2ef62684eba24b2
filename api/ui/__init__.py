"""The web dashboard, served by the API process at ``/ui`` (``pages``: the routes; ``session``: the login).
Jinja2 templates under ``templates/``; htmx 2 (0BSD, ``static/htmx-LICENSE.txt``) vendored under ``static/`` so
nothing is built or fetched on anyone's machine."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.ui.pages import router

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")


__all__ = ["install", "router"]
