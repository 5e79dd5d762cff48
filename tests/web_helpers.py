"""What the web tests share (tests/integration/test_web_*.py): the app served for real by uvicorn
on a free port, the `site` fixture (the sample bond traded and the sample ETF launched, served),
an empty register, a long register written directly for paging, and a headless chromium's DOM."""

import gc
import hashlib
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import uvicorn

from helpers import EXAMPLES, fund
from helpers import trade as sample_trade
from ledger.register import models
from ledger.register.db import Register
from ledger.chain.devnet import free_port
from ledger.web import create_app

BOND = "HK0000987658"
FUND = "03999"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# ---------------------------------------------------------------------- serving


class Served:
    """An app run for real by uvicorn in a background thread on a free port."""

    def __init__(self, app):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Site:
    world: object
    bond: dict
    trade: dict
    flow: dict
    url: str
    http: httpx.Client

    def get(self, path: str, **params):
        return self.http.get(path, params=params or None)

    def json(self, path: str, **params):
        r = self.get(path, **params)
        assert r.status_code == 200, (path, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json")
        return r.json()

    def cli(self, *args):
        r = self.world.run(*args, "--format", "json")
        assert r.exit_code == 0, r.stderr
        return r.json()


def _run_json(world, *args):
    r = world.run(*args, "--format", "json")
    assert r.exit_code == 0, r.stderr
    return r.json()


@pytest.fixture
def site(issued):
    """The issued sample bond traded once (harbour_pension sells 100 to kowloon_life, settled DvP),
    the sample ETF launched with one creation, and the web view served over that register."""
    world, bond = issued
    fund(world.run, 2, "100000000")
    trade = sample_trade(world, BOND, "harbour_pension", "kowloon_life")
    for index in (1, 2):
        assert world.run("affirm", trade["instruction_id"], "--dev-account", index).exit_code == 0
    assert [o["status"] for o in _run_json(world, "settle")] == ["settled"]
    assert world.run("investors", "import", EXAMPLES / "authorized_participants.csv").exit_code == 0
    assert world.run("etf", "launch", EXAMPLES / "etf_hkd.toml").exit_code == 0
    fund(world.run, 8, "10000000")
    flow = _run_json(world, "etf", "create", FUND, "--ap", "red_dot_securities", "--units", 100_000)
    for code in (BOND, FUND):  # recorded: what the pages show
        assert world.run("reconcile", code).exit_code == 0
    with Served(create_app(world.db_url, world.rpc_url)) as served, httpx.Client(base_url=served.url, timeout=30) as http:
        yield Site(world, bond, trade, flow, served.url, http)


def db_file(world) -> Path:
    return Path(world.db_url.removeprefix("sqlite:///"))


def db_fingerprint(path: Path) -> tuple[str, int, int]:
    """(sha256, size, mtime_ns) of the register file, with everything the CLI wrote in it: what
    the CLI's engines still hold in the WAL is checkpointed first, so only the web can change it."""
    gc.collect()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    stat = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), stat.st_size, stat.st_mtime_ns


# ---------------------------------------------------------------------- no chain at hand


@pytest.fixture
def empty_register(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    Register(url)  # created at the schema's head revision, nothing in it
    return url


# ---------------------------------------------------------------------- a real browser


class Dom(HTMLParser):
    """What a rendered page shows: the text of each element with an id, and the body rows of
    each table with an id, as lists of cell texts (whitespace collapsed)."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self, html: str):
        super().__init__()
        self.text: dict[str, str] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self._open: list[tuple[str, str | None]] = []  # (tag, id) of every open element
        self._tables: list[str | None] = []
        self._row: list[str] | None = None
        self._header = False
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        ident = dict(attrs).get("id")
        self._open.append((tag, ident))
        if ident:
            self.text[ident] = ""
        if tag == "table":
            self._tables.append(ident)
            if ident:
                self.tables[ident] = []
        elif tag == "tr":
            self._row, self._header = [], False
        elif tag in ("td", "th"):
            self._cell, self._header = [], self._header or tag == "th"

    def handle_endtag(self, tag):
        while self._open and self._open.pop()[0] != tag:
            pass
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._tables and self._tables[-1] and not self._header:
                self.tables[self._tables[-1]].append(self._row)
            self._row = None
        elif tag == "table" and self._tables:
            self._tables.pop()

    def handle_data(self, data):
        for _, ident in self._open:
            if ident:
                self.text[ident] += data
        if self._cell is not None:
            self._cell.append(data)


def chromium(url: str, profile: Path, *extra: str) -> Dom:
    """The page as a headless chromium renders it (`--dump-dom`)."""
    command = [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", *extra, url]
    run = subprocess.run(command, capture_output=True, text=True, timeout=90)
    assert run.returncode == 0 and "<table" in run.stdout, (command, run.returncode, run.stderr[-2000:])
    dom = Dom(run.stdout)
    dom.html = run.stdout
    return dom


# ---------------------------------------------------------------------- pages of long lists

BIG_BOND, BIG_FUND = "HK0000000019", "03998"


def _fake_hash(*parts) -> str:
    return "0x" + hashlib.sha256(repr(parts).encode()).hexdigest()


def build_long_register(url: str) -> dict:
    """A register of a few hundred rows in every paged list, written directly (no chain: the
    proofs are shaped like real ones): a bond and a fund, 240 holders in checksummed (mixed-case)
    wallets with many equal balances, two instructions per nonce, a whale investor in every fund
    transfer. Returns what the lists should hold, for the test to compare."""
    from eth_utils import to_checksum_address
    from sqlalchemy import insert

    reg = Register(url)
    bond_token, fund_token = "0x" + "b1" * 20, "0x" + "f1" * 20
    wallets = [to_checksum_address(_fake_hash("wallet", i)[:42]) for i in range(240)]
    t0 = 1_767_225_600  # 2026-01-01T00:00:00Z
    rows = {name: [] for name in ("transfers", "instructions", "duty", "payments", "nav", "flows")}
    balance = dict.fromkeys(wallets, 0)

    def proof(block: int, log: int) -> dict:
        return {
            "chain_id": 31337,
            "block_number": block,
            "block_hash": _fake_hash("block", block),
            "block_timestamp": t0 + 3_600 * block,
            "tx_hash": _fake_hash("tx", block, log),
            "log_index": log,
        }

    def transfer(block, log, token, sender, receiver, quantity):
        rows["transfers"].append(
            {**proof(block, log), "token": token, "from_address": sender, "to_address": receiver, "quantity": quantity}
        )

    zero = "0x" + "0" * 40
    for i, w in enumerate(wallets):  # mints: only five different quantities, so ties abound
        transfer(2 + i // 10, i % 10, bond_token, zero, w, (i % 5 + 1) * 100)
        balance[w] += (i % 5 + 1) * 100
    for n in range(300):  # trades between holders; some empty a wallet
        block, sender, receiver = 30 + n // 6, wallets[(7 * n) % 240], wallets[(11 * n + 3) % 240]
        quantity = balance[sender] if n % 9 == 0 else min(balance[sender], 10 * (n % 4 + 1))
        if quantity and sender != receiver:
            transfer(block, 2 * (n % 6), bond_token, sender, receiver, quantity)
            balance[sender] -= quantity
            balance[receiver] += quantity
        transfer(block, 2 * (n % 6) + 1, fund_token, zero if n % 2 else wallets[0], wallets[0] if n % 2 else zero, 50)
        day = date(2026, 1, 1 + n % 20)
        instruction = _fake_hash("instruction", n)
        rows["instructions"].append(
            {
                "instruction_id": instruction,
                "isin": BIG_BOND,
                "seller_investor_id": "s",
                "buyer_investor_id": "b",
                "seller": sender,
                "buyer": receiver,
                "security_token": bond_token,
                "cash_token": "0x" + "ca" * 20,
                "currency": "HKD",
                "quantity": 10,
                "price": "100",
                "accrued": 0,
                "cash_amount": 1000,
                "trade_date": day,
                "settlement_date": day,
                "expiry": t0 + 10**7,
                "nonce": n // 2,
                "status": "settled",
                "reason": None,
                **proof(block, 100),
            }
        )
        if n < 250:
            rows["duty"].append(
                {
                    **proof(block, 100 + n % 6),
                    "instruction_id": instruction,
                    "isin": BIG_BOND,
                    "instrument_class": "bond",
                    "treatment": "not_chargeable",
                    "currency": "HKD",
                    "consideration": 1000,
                    "duty_without_relief": 0,
                    "duty_buyer": 0,
                    "duty_seller": 0,
                    "basis": "loan capital",
                    "rule_version": "test",
                    "trade_date": day,
                }
            )
        if n < 210:
            rows["payments"].append(
                {
                    **proof(block, 200 + n % 6),
                    "bond": bond_token,
                    "kind": "coupon",
                    "coupon_id": 1 + n % 2,
                    "holder": receiver,
                    "quantity": 10,
                    "amount": 12_345,
                }
            )
            rows["nav"].append(
                {**proof(block, 300 + n % 6), "fund": fund_token, "nav_e6": 25_000_000 + n, "published_at": t0 + n}
            )
            rows["flows"].append(
                {
                    **proof(block, 400 + n % 6),
                    "kind": "creation" if n % 2 else "redemption",
                    "fund": fund_token,
                    "participant": wallets[0],
                    "creation_units": 1,
                    "units": 50,
                    "cash_token": "0x" + "ca" * 20,
                    "cash_amount": 1_250_000,
                    "nav_e6": 25_000_000,
                }
            )
    with reg.engine.begin() as conn:
        conn.execute(insert(models.Network), [{"id": 1, "chain_id": 31337, "genesis_hash": _fake_hash("genesis")}])
        conn.execute(
            insert(models.Checkpoint), [{"id": 1, "chain_id": 31337, "block_number": 200, "block_hash": _fake_hash("block", 200)}]
        )
        for isin, kind, token in ((BIG_BOND, "bond", bond_token), (BIG_FUND, "fund", fund_token)):
            conn.execute(
                insert(models.Instrument),
                [
                    {
                        "isin": isin,
                        "kind": kind,
                        "name": f"Long {kind}",
                        "symbol": kind.upper(),
                        "issuer": "Issuer",
                        "currency": "HKD",
                        "address": token,
                        "denomination": 1_000_000 if kind == "bond" else None,
                        "termsheet": "{}",
                        "termsheet_sha256": "0" * 64,
                        "creation_unit": 50 if kind == "fund" else None,
                    }
                ],
            )
        conn.execute(
            insert(models.Investor),
            [
                {
                    "investor_id": f"inv_{i:03d}",
                    "id_hash": _fake_hash("id", i),
                    "name": f"Investor {i}",
                    "country": "HK",
                    "category": "professional",
                    "kyc_expiry": date(2030, 1, 1),
                }
                for i in range(len(wallets))
            ],
        )
        conn.execute(
            insert(models.Wallet),
            [{"address": w, "id_hash": _fake_hash("id", i), "active": True, "block_number": 1} for i, w in enumerate(wallets)],
        )
        conn.execute(
            insert(models.Registration),
            [
                {**proof(1, i), "event": "wallet_added", "id_hash": _fake_hash("id", i), "wallet": w}
                for i, w in enumerate(wallets)
            ],
        )
        for model, name in (
            (models.Transfer, "transfers"),
            (models.Instruction, "instructions"),
            (models.DutyAssessment, "duty"),
            (models.Payment, "payments"),
            (models.NavRecord, "nav"),
            (models.FundFlow, "flows"),
        ):
            conn.execute(insert(model), rows[name])
    reg.engine.dispose()
    return {"holders": sum(1 for q in balance.values() if q), "equal": len(set(q for q in balance.values() if q))}


def _link(response, rel: str) -> str | None:
    for part in response.headers.get("link", "").split(","):
        if part.strip().endswith(f'rel="{rel}"'):
            return part.strip().split(";")[0].strip().strip("<>")
    return None


def walk(http, path: str, limit: int, **params) -> tuple[list, list]:
    """Every row of a paged list: forward from the first page by rel="next", then back from the
    last by rel="prev" (pages reversed). Both as lists of rows."""
    r = http.get(path, params={**params, "limit": limit})
    pages = []
    while True:
        assert r.status_code == 200, (path, r.status_code, r.text)
        page = r.json()
        assert isinstance(page, list) and 0 < len(page) <= limit
        pages.append(page)
        following = _link(r, "next")
        assert (following is None) == ("x-next-cursor" not in r.headers)
        if following is None:
            break
        assert following.endswith(r.headers["x-next-cursor"]) or r.headers["x-next-cursor"] in following
        r = http.get(following)
    forward = [row for page in pages for row in page]
    assert all(len(page) == limit for page in pages[:-1])
    back = [pages[-1]]
    while (before := _link(r, "prev")) is not None:
        r = http.get(before)
        assert r.status_code == 200
        back.append(r.json())
    assert "x-previous-cursor" not in r.headers, "the first page has no page before it"
    backward = [row for page in reversed(back) for row in page]
    return forward, backward


@pytest.fixture
def long_register(registers) -> tuple[str, dict]:
    url = registers.new("long")
    return url, build_long_register(url)
