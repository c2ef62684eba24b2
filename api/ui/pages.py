"""The dashboard's pages (``/ui``): server-rendered Jinja2 templates, htmx (vendored under ``static/``) for the
parts that update themselves by short polling of one fragment per page. Thin, as every route: each calls the
services with the signed-in user's rights (``services.dashboard`` for what the pages gather) and renders.

Actions are plain HTML forms (POST, with the session's CSRF token, answered by a redirect back), so every
button works without scripts too. Errors are pages: the status code the API would answer, and its message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from api.dependencies import Dispatcher, Gateway
from api.envelope import status_for
from api.ui import session as ui_session
from api.ui.session import LOGIN_COOKIE, SESSION_COOKIE, LoginRequired, UiAction, UiSession
from dlws_flow.domain.listing import ListRequest
from dlws_flow.errors import AuthenticationError, DlwsFlowError, NotFoundError, ValidationError
from dlws_flow.services import apps, auth, dashboard, outputs, quotas, sweeps, systems, tokens
from dlws_flow.services import jobs as job_service
from dlws_flow.services.login_throttle import LoginThrottled

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
#: Seconds between two looks of a page's live part (one small request each).
REFRESH_SECONDS = 2
#: Bytes of ``tapisjob.out`` one look of the job page reads at most.
TAIL_CHUNK = 32 * 1024
#: On every page: no framing (clickjacking), scripts and forms from here only, nothing cached or sent on.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
#: What the login form says when a page sent the browser there (never text from the URL itself).
LOGIN_REASONS = {"required": "Sign in to use the dashboard.", "ended": "Your session has ended; sign in again."}
#: Seconds between two looks of the overview (its figures read the last hour's status changes).
OVERVIEW_REFRESH_SECONDS = 10
JOB_ACTIONS = {"cancel": job_service.cancel_for, "pause": job_service.pause_for, "resume": job_service.resume_for}


class PageRoute(APIRoute):
    """Errors of a page become an error page (or, for a missing session, the login form)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired as exc:
                why = "ended" if request.cookies.get(SESSION_COOKIE) else "required"
                if request.method == "GET" and "HX-Request" not in request.headers:
                    response = RedirectResponse(f"/ui/login?{urlencode({'next': request.url.path, 'why': why})}", 303)
                else:
                    response = _error_page(request, 401, str(exc), headers={"HX-Redirect": "/ui/login"})
            except DlwsFlowError as exc:
                response = _error_page(request, status_for(exc), str(exc))
            response.headers.update(PAGE_HEADERS)
            return response

        return handle


router = APIRouter(prefix="/ui", include_in_schema=False, route_class=PageRoute)


def _error_page(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    return templates.TemplateResponse(request, "error.html", {"status": status, "message": message, "session": None},
                                      status_code=status, headers=headers)


def _page(request: Request, name: str, session: ui_session.Session | None, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"session": session, "refresh": REFRESH_SECONDS, **context})


def _back(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303)


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a dashboard path only (never another site)."""
    return target if target and target.startswith("/ui") and not target.startswith("//") and "\\" not in target else "/ui"


# --- signing in and out ------------------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, next: str | None = None, why: str | None = None) -> HTMLResponse:
    nonce = ui_session.new_login_nonce()
    response = _page(request, "login.html", None, nonce=nonce, next=_safe_next(next), message=LOGIN_REASONS.get(why or ""))
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=900, **ui_session.cookie_options(request))
    return response


@router.post("/login")
async def login(request: Request, username: str = Form(""), password: str = Form(""), csrf: str = Form(""),
                next: str = Form("/ui")) -> Response:
    expected = request.cookies.get(LOGIN_COOKIE)
    if not expected or csrf != expected:
        return _error_page(request, 403, "the sign-in form has expired; open it again")
    client = request.client.host if request.client else None
    try:
        principal = await run_in_threadpool(auth.authenticate, username, password, client)
    except LoginThrottled as exc:
        return _login_again(request, 429, f"{exc} (try again in {exc.retry_after} s)", next)
    except AuthenticationError:
        return _login_again(request, 401, "wrong user name or password", next)
    token = tokens.issue_token(principal, ui_session.session_ttl(), grant_type="password")
    response = _back(_safe_next(next))
    response.set_cookie(SESSION_COOKIE, token["access_token"], max_age=token["expires_in"],
                        **ui_session.cookie_options(request))
    response.delete_cookie(LOGIN_COOKIE, path="/ui")
    return response


def _login_again(request: Request, status: int, message: str, next: str) -> HTMLResponse:
    nonce = ui_session.new_login_nonce()
    response = _page(request, "login.html", None, nonce=nonce, next=_safe_next(next), message=message)
    response.status_code = status
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=900, **ui_session.cookie_options(request))
    return response


@router.post("/logout")
def logout(request: Request, session: UiAction) -> Response:
    tokens.revoke(session.token)
    response = _back("/ui/login")
    response.delete_cookie(SESSION_COOKIE, path="/ui")
    return response


# --- overview ----------------------------------------------------------------------------------------


@router.get("")
def overview(request: Request, session: UiSession) -> HTMLResponse:
    return _page(request, "overview.html", session, overview_refresh=OVERVIEW_REFRESH_SECONDS,
                 **_overview_figures(session))


@router.get("/overview/live")
def overview_live(request: Request, session: UiSession) -> HTMLResponse:
    return _page(request, "overview_figures.html", session, **_overview_figures(session))


def _overview_figures(session: ui_session.Session) -> dict[str, Any]:
    return dashboard.overview(session.principal)


# --- jobs --------------------------------------------------------------------------------------------


def _job_filters(status: str | None, app: str | None, system: str | None) -> dict[str, str]:
    filters = {"status": status or "", "app": app or "", "system": system or ""}
    if filters["status"] and filters["status"] not in dashboard.STATES:
        raise ValidationError(f"status {filters['status']!r} is not a job status")
    return filters


@router.get("/jobs")
def job_list(request: Request, session: UiSession, status: str | None = None, app: str | None = None,
             system: str | None = None, page: int = Query(0, ge=0)) -> HTMLResponse:
    filters = _job_filters(status, app, system)
    found = dashboard.job_page(session.principal, filters=filters, page=page)
    return _page(request, "jobs.html", session, filters=filters, states=dashboard.STATES, query=_query(filters, page),
                 **found)


@router.get("/jobs/rows")
def job_rows(request: Request, session: UiSession, status: str | None = None, app: str | None = None,
             system: str | None = None, page: int = Query(0, ge=0)) -> HTMLResponse:
    filters = _job_filters(status, app, system)
    found = dashboard.job_page(session.principal, filters=filters, page=page)
    return _page(request, "job_rows.html", session, filters=filters, query=_query(filters, page), **found)


def _query(filters: dict[str, str], page: int) -> str:
    return urlencode({**{k: v for k, v in filters.items() if v}, "page": page})


@router.get("/jobs/{job_uuid}")
def job_detail(request: Request, session: UiSession, gateway: Gateway, job_uuid: str) -> HTMLResponse:
    view = dashboard.job_view(session.principal, job_uuid)
    return _page(request, "job.html", session, outputs=_outputs(job_uuid, gateway), quote=quote, **view)


def _outputs(job_uuid: str, gateway: Gateway) -> dict[str, Any]:
    """The job's output files, or why they cannot be listed now (not staged yet, host unreachable)."""
    try:
        return {"files": [e for e in outputs.list_outputs(job_uuid, "", gateway=gateway)][:500], "problem": None}
    except DlwsFlowError as exc:
        return {"files": [], "problem": str(exc)}


@router.get("/jobs/{job_uuid}/live")
def job_live(request: Request, session: UiSession, gateway: Gateway, job_uuid: str,
             offset: int = Query(0, ge=0)) -> HTMLResponse:
    """The job page's live part: status, timeline and buttons, and ``tapisjob.out`` from ``offset`` on. Polling
    stops once the job has ended and its output has been read to the end."""
    view = dashboard.job_view(session.principal, job_uuid)
    chunk, next_offset, problem = "", offset, None
    try:
        tail = outputs.tail(job_uuid, None, offset, TAIL_CHUNK, gateway=gateway)
        chunk, next_offset = tail["text"], tail["nextOffset"]
        at_end = next_offset >= tail["size"]
    except DlwsFlowError as exc:  # no output yet (not launched), or the host is not answering now
        problem, at_end = str(exc), True
    keep_polling = not (view["ended"] and at_end)
    return _page(request, "job_live.html", session, chunk=chunk, offset=next_offset, problem=problem,
                 keep_polling=keep_polling, **view)


@router.get("/jobs/{job_uuid}/outputs/{path:path}")
def job_output(session: UiSession, gateway: Gateway, job_uuid: str, path: str) -> Response:
    job_service.get_for(session.principal, job_uuid)  # READ on the job, as GET /v3/jobs/.../output/download
    download = outputs.download(job_uuid, path, gateway=gateway)
    return Response(download.content, media_type=download.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{download.filename}"'})


@router.post("/jobs/{job_uuid}/{action}")
def job_action(session: UiAction, dispatcher: Dispatcher, job_uuid: str, action: str) -> Response:
    if action not in JOB_ACTIONS:
        raise ValidationError(f"unknown job action {action!r}")
    JOB_ACTIONS[action](session.principal, job_uuid, dispatcher)
    return _back(f"/ui/jobs/{quote(job_uuid)}")


# --- sweeps, systems, apps, virtual clusters ---------------------------------------------------------


@router.get("/sweeps")
def sweep_list(request: Request, session: UiSession) -> HTMLResponse:
    return _page(request, "sweeps.html", session, sweeps=sweeps.list_for(session.principal))


@router.post("/sweeps/{sweep_id}/{action}")
def sweep_action(session: UiAction, dispatcher: Dispatcher, sweep_id: str, action: str) -> Response:
    if action not in ("cancel", "pause", "resume"):
        raise ValidationError(f"unknown sweep action {action!r}")
    sweeps.act(session.principal, sweep_id, action, dispatcher)
    return _back("/ui/sweeps")


@router.get("/vcs")
def vc_list(request: Request, session: UiSession) -> HTMLResponse:
    return _page(request, "vcs.html", session, vcs=quotas.statuses())


#: The catalogs a person may read and switch on and off: page name -> (service, template).
CATALOGS = {"systems": systems, "apps": apps}


@router.get("/{catalog}")
def catalog_list(request: Request, session: UiSession, catalog: str) -> HTMLResponse:
    """Systems or apps the user may see (``services.systems.search``, ``services.apps.search``)."""
    service = _catalog(catalog)
    found = service.search(session.principal, ListRequest(limit=500, order_by="id(asc)"))
    return _page(request, f"{catalog}.html", session, records=found.records)


@router.post("/{catalog}/{record_id}/{action}")
def catalog_action(session: UiAction, catalog: str, record_id: str, action: str) -> Response:
    """Enable or disable a system or an app (the service checks MODIFY)."""
    service = _catalog(catalog)
    if action not in ("enable", "disable"):
        raise ValidationError(f"unknown {catalog} action {action!r}")
    service.set_enabled(session.principal, record_id, action == "enable")
    return _back(f"/ui/{catalog}")


def _catalog(name: str):
    if name not in CATALOGS:
        raise NotFoundError(f"no dashboard page {name!r}")
    return CATALOGS[name]
