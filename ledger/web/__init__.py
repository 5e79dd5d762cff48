"""The auditors' read-only web view of the register: a JSON API and a few server-rendered pages.

`create_app(db_url, rpc_url)` opens the register with `Register(db_url, read_only=True)` (SQLite
`mode=ro`, PostgreSQL `default_transaction_read_only`), so nothing can be written through it; on
top of that every request whose method is not GET, HEAD or OPTIONS is answered 405 before it
reaches any route. The JSON routes give the same rows as the `bondledger register ...` commands
with `--format json` (they call the same functions in `ledger.register.views`, serialized the same way);
`/api/reconciliation/{isin}` is `bondledger reconcile ISIN --format json`, and needs the chain.
The lists answer a page at a time (`limit`, an opaque keyset `cursor`; the next and previous pages
in the `Link`, `X-Next-Cursor` and `X-Previous-Cursor` headers). The pages show one page of each
table with links to the others, the last reconciliation `bondledger reconcile` recorded (a page
never reaches for the chain), and charts drawn as inline SVG (`charts`).

Bad input answers 4xx with `{"detail": "<one line>"}`: 404 when the instrument, fund or investor
named in the path is not in the register, 400 for anything else (a block beyond the indexed one,
a malformed date). Reconciliation answers 503 when no RPC URL was given or the node is
unreachable, and 409 when the node is not the register's chain (or it reorganised).

Run it with `python -m ledger.web [--db URL] [--rpc-url URL] [--host H] [--port N]`.

The package: `app` builds the application (the read-only guard, errors as one line), `api` holds
the JSON routes (each row's model, ledger.register.rows, is its `response_model`), `pages` the HTML pages,
`schemas` how the OpenAPI document shows pages and errors, `lookups` what routes and pages both read
(parameters, reconciliation), `charts` the pictures. Paging and cursors are ledger.register.paging.
"""

from ledger.web.app import create_app, main
from ledger.web.schemas import DOCUMENTED

__all__ = ["DOCUMENTED", "create_app", "main"]
