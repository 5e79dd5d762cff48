"""The application: the read-only guard, errors as one line, the JSON routes and the pages."""

import argparse
import json
from importlib import metadata

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.templating import Jinja2Templates

from ledger.register.db import Register
from ledger.errors import InputError, NotFound
from ledger.settings import settings
from ledger.web import api, pages
from ledger.web.lookups import WebError, refuse_nul
from ledger.web.schemas import document_errors_as_400

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
ALLOW = ", ".join(SAFE_METHODS)
# The views name the CLI's options in their messages; the web names its query parameters.
CLI_OPTIONS = {"--as-of-block": "as_of_block", "--as-of-date": "as_of_date", "--from": "from", "--to": "to"}
# ... and where a message names another option in its text (views.as_of, views.check_period).
CLI_PHRASES = {
    "give --as-of-block or --as-of-date, not both": "give as_of_block or as_of_date, not both",
    " is after --to ": " is after the `to` date ",
}


def create_app(db_url: str, rpc_url: str | None = None) -> FastAPI:
    """The register's read-only web view. `rpc_url` is needed only to reconcile with the chain."""
    register = Register(db_url, read_only=True)
    templates = Jinja2Templates(env=pages.environment())
    try:
        version = metadata.version("bondledger")
    except metadata.PackageNotFoundError:
        version = "0"
    app = FastAPI(
        title="bondledger register",
        version=version,
        summary="Read-only view of the bondledger register: holders, transfers with their chain proofs, "
        "settlements, stamp duty, coupons, fund NAVs and flows, and reconciliation with the chain.",
        description=(
            "Every route is a GET over the off-chain register as the indexer wrote it; any other method is "
            "refused with 405. Rows are exactly what `bondledger register ... --format json` prints. Lists come "
            "a page at a time: `limit` rows (default 100, at most 1000) from an opaque `cursor`; the body stays a "
            'list, and the pages around it are in the `Link` (rel="next", rel="prev"), `X-Next-Cursor` and '
            '`X-Previous-Cursor` headers. Errors answer `{"detail": "<one line>"}`: 404 when the instrument, '
            "fund or investor is not in the register, 400 for other bad input (a bad `limit` or `cursor` too)."
        ),
        openapi_tags=[
            {"name": "instruments", "description": "Bonds and funds, their holders and transfers"},
            {"name": "bonds", "description": "Coupons due and paid, payments to holders"},
            {"name": "funds", "description": "Tokenized ETFs: NAV history, creations and redemptions"},
            {"name": "settlements", "description": "Settlement instructions and their stamp duty treatment"},
            {"name": "investors", "description": "An investor's movements of securities and cash"},
            {"name": "reconciliation", "description": "The register against the chain"},
        ],
        dependencies=[Depends(refuse_nul)],
    )
    app.state.register = register
    document_errors_as_400(app)
    app.state.rpc_url = rpc_url
    app.add_middleware(ReadOnlyMiddleware)

    @app.exception_handler(WebError)
    async def _web_error(request: Request, exc: WebError):
        return _error(request, templates, exc.status, exc.message)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return _error(request, templates, 404, str(exc))

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError):
        return _error(request, templates, 400, web_message(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        value = first.get("input")
        shown = f" (got {value!r})" if isinstance(value, str) else ""
        return _error(request, templates, 400, f"{where}: {first.get('msg', 'is not valid')}{shown}")

    api.add_routes(app, register, rpc_url)
    pages.add_routes(app, register, rpc_url, templates)
    return app


def _error(request: Request, templates: Jinja2Templates, status: int, message: str):
    if request.url.path.startswith("/api/") or request.url.path.startswith("/openapi"):
        return JSONResponse({"detail": message}, status_code=status)
    return templates.TemplateResponse(request, "error.html", {"status": status, "message": message}, status_code=status)


def web_message(exc: Exception) -> str:
    """The one-line message of a bondledger error, with the CLI's option names as query names."""
    message = str(exc)
    for option, param in CLI_OPTIONS.items():
        if message.startswith(option + ":"):
            message = param + message[len(option) :]
            for phrase, web in CLI_PHRASES.items():
                message = message.replace(phrase, web)
            return message
    return message


class ReadOnlyMiddleware:
    """Refuses every method but GET, HEAD and OPTIONS on every path (before routing), answers
    OPTIONS with the allowed methods, and serves HEAD as a GET without its body."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"].upper()
        if method not in SAFE_METHODS:
            body = json.dumps({"detail": f"method {method} is not allowed: the register is read-only ({ALLOW})"}).encode()
            await _respond(send, 405, body, b"application/json")
            return
        if method == "OPTIONS":
            await _respond(send, 204, b"", None)
            return
        if method == "HEAD":

            async def send_no_body(message):
                if message["type"] == "http.response.body":
                    message = {**message, "body": b""}
                await send(message)

            await self.app({**scope, "method": "GET"}, receive, send_no_body)
            return
        await self.app(scope, receive, send)


async def _respond(send, status: int, body: bytes, content_type: bytes | None) -> None:
    headers = [(b"allow", ALLOW.encode()), (b"content-length", str(len(body)).encode())]
    if content_type:
        headers.append((b"content-type", content_type))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m ledger.web", description="Serve the register's read-only web view.")
    env = settings()
    parser.add_argument("--db", default=env.db, help="register URL or SQLite path [env BONDLEDGER_DB]")
    parser.add_argument("--rpc-url", default=env.rpc_url, help="chain, for reconciliation [env BONDLEDGER_RPC_URL]")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.db, args.rpc_url), host=args.host, port=args.port)
