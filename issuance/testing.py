"""bondledger's pytest plugin: fixtures for testing your own system against a devnet that runs
bondledger's contracts.

Installing bondledger registers it (entry point `pytest11`, name `bondledger`); nothing to
import. Every fixture is named `bondledger_*` and yields a plain object with addresses, keys
and a `run(*args)` that runs the `bondledger` command line (in-process) against that devnet
and register:

    bondledger_devnet     anvil (chain id 31337). Fresh per test by default; with
                          `--bondledger-devnet=shared` (or `bondledger_devnet = shared` in the
                          pytest ini) one anvil per session, reverted after each test
                          (evm_snapshot/evm_revert). anvil comes from BONDLEDGER_ANVIL or PATH.
    bondledger_platform   the platform deployed on it (investor registry, DvP venue, paying
                          agent, cash tokens) with a register of its own (SQLite, per test)
    bondledger_investors  the investors of `bondledger_investor_list`, onboarded
    bondledger_cash       funds an investor: cash minted to their wallet and authorized for DvP
    bondledger_bond       a bond issued from `bondledger_term_sheet` and `bondledger_allocations`,
                          each allocation's cash funded first
    bondledger_clock      the chain's clock: read it, move it forward

Override the data fixtures in your conftest.py to use your own: `bondledger_investor_list`
(dicts: investor_id, name, country, category, and optionally kyc_expiry, private_key),
`bondledger_term_sheet` (TOML text), `bondledger_allocations` ((investor_id, principal)
pairs), and the session-scoped `bondledger_devnet_start` (the chain's first timestamp).

Heavy libraries (web3, the register) are imported inside the fixtures, so having the plugin
installed costs a pytest run that does not use it nothing.
"""

import json
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_UP, Decimal
from pathlib import Path

import pytest

#: the sample bond's issue day, 2024-02-07T01:00:00Z: where the default devnet's clock starts
SAMPLE_START = "2024-02-07T01:00:00"

SAMPLE_TERM_SHEET = """\
[bond]
isin = "HK0000987658"
name = "HKSAR Digital Green Bond 2026 (sample)"
symbol = "HKGB0226"
issuer = "The Government of the Hong Kong Special Administrative Region (sample)"
currency = "HKD"
denomination = "50000"
issue_size = "2000000000"
coupon_rate = "3.800"
coupon_frequency = 2
day_count = "ACT/365F"
business_day_convention = "following"
calendar = "HK"
issue_date = 2024-02-07
maturity_date = 2026-02-07

[green]
framework_uri = "https://www.hkgb.gov.hk/en/greenbond/framework.html"
framework_sha256 = "62bcd247e773ca82f832c940e8869b5a98cb7a4bb5c50a84fd96d5b92efece73"
use_of_proceeds = ["renewable_energy", "clean_transportation", "green_buildings"]

[restrictions]
professional_investors_only = true
allowed_jurisdictions = ["HK", "SG", "GB", "JP", "AU"]
"""

SAMPLE_INVESTORS = [
    {"investor_id": "harbour_pension", "name": "Harbour Pension Trust (sample)", "country": "HK", "category": "institutional_professional_investor"},
    {"investor_id": "kowloon_life", "name": "Kowloon Life Assurance (sample)", "country": "HK", "category": "institutional_professional_investor"},
    {"investor_id": "lion_rock", "name": "Lion Rock Asset Management (sample)", "country": "HK", "category": "corporate_professional_investor"},
    {"investor_id": "straits_capital", "name": "Straits Capital Partners (sample)", "country": "SG", "category": "institutional_professional_investor"},
    {"investor_id": "victoria_peak", "name": "Victoria Peak Family Office (sample)", "country": "HK", "category": "professional_investor"},
]  # fmt: skip

SAMPLE_ALLOCATIONS = [
    ("harbour_pension", "600000000"),
    ("kowloon_life", "500000000"),
    ("lion_rock", "400000000"),
    ("straits_capital", "350000000"),
    ("victoria_peak", "150000000"),
]


def pytest_addoption(parser):
    group = parser.getgroup("bondledger")
    group.addoption(
        "--bondledger-devnet",
        choices=("fresh", "shared"),
        default=None,
        help="bondledger_devnet: a fresh anvil per test, or one per session reverted after each test.",
    )
    parser.addini("bondledger_devnet", "bondledger_devnet: fresh (default) or shared", default="fresh")


# ---------------------------------------------------------------------- what the fixtures yield


@dataclass
class Result:
    """What one `bondledger` command did."""

    args: list[str]
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)

    def check(self) -> "Result":
        """This result, or an AssertionError with the command and its error line."""
        if self.exit_code != 0:
            raise AssertionError(f"bondledger {' '.join(self.args)} exited {self.exit_code}: {self.stderr.strip()}")
        return self


@dataclass(frozen=True)
class Account:
    address: str
    private_key: str


def _run(env: dict, args) -> Result:
    from click.testing import CliRunner

    from issuance.cli import cli

    args = [str(a) for a in args]
    # None unsets: the developer's own keys or register never leak into a test.
    base = {"BONDLEDGER_PRIVATE_KEY": None, "BONDLEDGER_KEYSTORE": None, "BONDLEDGER_DB": None}
    result = CliRunner().invoke(cli, args, env={**base, **env}, catch_exceptions=False)
    return Result(args, result.exit_code, result.stdout, result.stderr)


@dataclass
class Devnet:
    """An anvil devnet. `accounts` are anvil's ten funded development accounts (0 signs as the
    operator); `run(...)` runs the CLI against this chain (no register given: the default one
    in `home`)."""

    rpc_url: str
    chain_id: int
    accounts: list[Account]
    home: Path

    def run(self, *args, env: dict | None = None) -> Result:
        return _run({"BONDLEDGER_RPC_URL": self.rpc_url, "BONDLEDGER_HOME": str(self.home), **(env or {})}, args)

    def rpc(self, method: str, params: list | None = None):
        """A raw JSON-RPC call, e.g. `rpc("eth_blockNumber")`."""
        from ledger.chain import connect

        return connect(self.rpc_url).rpc(method, params or [])

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)


@dataclass
class Platform:
    """bondledger's shared contracts on the devnet (`contracts`: name or currency -> address)
    and the register that records them (`db_url`); `run(...)` uses both."""

    devnet: Devnet
    db_url: str
    contracts: dict[str, str]
    operator: Account

    @property
    def rpc_url(self) -> str:
        return self.devnet.rpc_url

    def run(self, *args, env: dict | None = None) -> Result:
        return self.devnet.run(*args, env={"BONDLEDGER_DB": self.db_url, **(env or {})})


@dataclass(frozen=True)
class Investor:
    investor_id: str
    name: str
    address: str
    private_key: str
    country: str
    category: str
    kyc_expiry: str


@dataclass
class Investors:
    """The onboarded investors, by id (`investors["harbour_pension"]`) or in list order."""

    platform: Platform
    all: list[Investor]

    def __getitem__(self, investor_id: str) -> Investor:
        for investor in self.all:
            if investor.investor_id == investor_id:
                return investor
        raise KeyError(investor_id)

    def __iter__(self):
        return iter(self.all)

    def __len__(self) -> int:
        return len(self.all)


@dataclass
class Cash:
    """Tokenized cash on the platform."""

    platform: Platform

    def fund(self, investor: Investor, amount, currency: str = "HKD") -> None:
        """Mints `amount` (currency units) to the investor's wallet and authorizes the DvP venue to
        take it (signed with the investor's key)."""
        self.platform.run("cash", "mint", currency, investor.address, amount).check()
        self.platform.run("cash", "allow", currency, amount, "--private-key", investor.private_key).check()

    def balance(self, address: str, currency: str = "HKD") -> Decimal:
        """The wallet's balance in currency units."""
        from ledger.chain import connect
        from ledger.money import from_minor

        token = connect(self.platform.rpc_url).contract("CashToken", self.platform.contracts[currency])
        return from_minor(token.functions.balanceOf(address).call(), currency)


@dataclass
class Bond:
    """An issued bond: its ISIN, token address and term sheet file, and the allocations settled."""

    platform: Platform
    isin: str
    address: str
    currency: str
    term_sheet: Path
    allocations: list[tuple[str, str]]
    issue: dict = field(repr=False)

    def run(self, *args, env: dict | None = None) -> Result:
        return self.platform.run(*args, env=env)


@dataclass
class Clock:
    """The devnet chain's clock (lifecycle commands take the chain's time, not the wall clock)."""

    devnet: Devnet

    def now(self) -> datetime:
        from ledger.chain import connect

        return datetime.fromtimestamp(connect(self.devnet.rpc_url).now(), timezone.utc)

    def move_to(self, when: datetime | date | str | int) -> datetime:
        """Moves the clock forward to `when` (a UTC datetime, a date at 00:00 UTC, an ISO string
        or unix seconds) and mines a block there. A chain's clock never moves back."""
        from ledger.chain import devnet
        from ledger.chain import connect

        devnet.warp(connect(self.devnet.rpc_url), _unix(when))
        return self.now()

    def advance(self, delta: timedelta | int) -> datetime:
        """Moves the clock forward by a timedelta or a number of seconds."""
        seconds = int(delta.total_seconds()) if isinstance(delta, timedelta) else int(delta)
        return self.move_to(int(self.now().timestamp()) + seconds)


def _unix(when: datetime | date | str | int) -> int:
    if isinstance(when, int):
        return when
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    if not isinstance(when, datetime):
        when = datetime(when.year, when.month, when.day)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp())


# ---------------------------------------------------------------------- the devnet


@pytest.fixture(scope="session")
def bondledger_devnet_start() -> str | None:
    """The devnet chain's first timestamp (ISO, UTC), or None for the wall clock. Session
    scoped: override it with a session-scoped fixture of your own."""
    return SAMPLE_START


def _devnet_mode(config) -> str:
    return config.getoption("bondledger_devnet") or config.getini("bondledger_devnet")


def _start_anvil(log_dir: Path, start: str | None):
    from ledger.chain import devnet
    from ledger.errors import BondledgerError

    extra = ["--timestamp", str(_unix(start))] if start else []
    try:
        return devnet.Devnet.start(log_dir=log_dir, extra_args=extra)
    except BondledgerError as exc:  # e.g. no anvil: one line, not a traceback per test
        error = str(exc)
    pytest.fail(f"bondledger_devnet: {error}", pytrace=False)


def _dev_accounts() -> list[Account]:
    from ledger.chain import keys

    return [Account(a.address, a.key.to_0x_hex()) for a in (keys.dev_account(i) for i in range(keys.DEV_ACCOUNT_COUNT))]


@pytest.fixture(scope="session")
def _bondledger_shared_anvil(request, tmp_path_factory, bondledger_devnet_start):
    """The session's anvil when the devnet is shared (started when a test first asks)."""
    node = _start_anvil(tmp_path_factory.mktemp("bondledger-anvil"), bondledger_devnet_start)
    yield node
    node.stop()


@pytest.fixture
def bondledger_devnet(request, tmp_path, bondledger_devnet_start) -> Devnet:
    """An anvil devnet for this test: fresh, or the session's one reverted afterwards."""
    from ledger.chain import connect

    home = tmp_path / "bondledger-home"
    home.mkdir(exist_ok=True)
    if _devnet_mode(request.config) == "shared":
        node = request.getfixturevalue("_bondledger_shared_anvil")
        chain = connect(node.rpc_url)
        snapshot = chain.rpc("evm_snapshot", [])  # an id works once: a new one per test
        try:
            yield Devnet(node.rpc_url, chain.chain_id, _dev_accounts(), home)
        finally:
            chain.rpc("evm_revert", [snapshot])
        return
    node = _start_anvil(tmp_path, bondledger_devnet_start)
    try:
        yield Devnet(node.rpc_url, connect(node.rpc_url).chain_id, _dev_accounts(), home)
    finally:
        node.stop()


# ---------------------------------------------------------------------- the platform and its users


@pytest.fixture
def bondledger_platform(bondledger_devnet, tmp_path) -> Platform:
    """`bondledger deploy` on the devnet, with a new register (tmp_path/bondledger-register.db)."""
    db_url = f"sqlite:///{tmp_path / 'bondledger-register.db'}"
    env = {"BONDLEDGER_DB": db_url}
    out = bondledger_devnet.run("deploy", env=env).check().stdout
    contracts = {}
    for line in out.splitlines():  # the table: contract, address
        cells = line.split()
        if len(cells) == 2 and cells[1].startswith("0x"):
            contracts[cells[0]] = cells[1]
    return Platform(bondledger_devnet, db_url, contracts, bondledger_devnet.accounts[0])


@pytest.fixture
def bondledger_investor_list() -> list[dict]:
    """The investors `bondledger_investors` onboards: the sample's five professional investors.
    Without a private_key, an investor gets the next anvil development account (1, 2, ...)."""
    return [dict(row) for row in SAMPLE_INVESTORS]


@pytest.fixture
def bondledger_investors(bondledger_platform, bondledger_investor_list, tmp_path) -> Investors:
    """`investors import` of `bondledger_investor_list`; a wallet with its own key gets gas."""
    accounts = iter(bondledger_platform.devnet.accounts[1:])
    made = []
    for row in bondledger_investor_list:
        if row.get("private_key"):
            from eth_account import Account as EthAccount

            key = row["private_key"]
            account = Account(EthAccount.from_key(key).address, key)
            bondledger_platform.devnet.rpc("anvil_setBalance", [account.address, hex(10**20)])
        else:
            account = next(accounts, None)
            if account is None:
                raise pytest.UsageError(
                    "bondledger_investor_list: more investors than anvil accounts; give the rest a private_key"
                )
        made.append(
            Investor(
                row["investor_id"], row["name"], account.address, account.private_key,
                row["country"], row["category"], str(row.get("kyc_expiry", "2030-12-31")),
            )
        )  # fmt: skip
    path = tmp_path / f"bondledger-investors-{secrets.token_hex(4)}.csv"
    lines = ["investor_id,name,wallet,country,category,kyc_expiry"]
    lines += [f"{i.investor_id},{i.name},{i.address},{i.country},{i.category},{i.kyc_expiry}" for i in made]
    path.write_text("\n".join(lines) + "\n")
    bondledger_platform.run("investors", "import", path).check()
    return Investors(bondledger_platform, made)


@pytest.fixture
def bondledger_cash(bondledger_platform) -> Cash:
    """Tokenized cash: `bondledger_cash.fund(investor, amount, "HKD")`, `.balance(address)`."""
    return Cash(bondledger_platform)


# ---------------------------------------------------------------------- a bond


@pytest.fixture
def bondledger_term_sheet() -> str:
    """The bond `bondledger_bond` issues, as term sheet TOML: the sample HK$2bn green bond."""
    return SAMPLE_TERM_SHEET


@pytest.fixture
def bondledger_allocations() -> list[tuple[str, str]]:
    """(investor_id, principal in currency units) pairs, summing to the issue size."""
    return list(SAMPLE_ALLOCATIONS)


@pytest.fixture
def bondledger_bond(bondledger_investors, bondledger_cash, bondledger_term_sheet, bondledger_allocations, tmp_path) -> Bond:
    """`bondledger issue` of the term sheet to the allocations, settled DvP against cash that
    each allocated investor is funded with first (exactly what the allocation costs)."""
    from issuance.inputs import read_allocations
    from issuance.issue import plan
    from issuance.termsheet import load_termsheet
    from ledger.money import from_minor

    term_sheet = tmp_path / "bondledger-term-sheet.toml"
    term_sheet.write_text(bondledger_term_sheet)
    allocations = tmp_path / "bondledger-allocations.csv"
    rows = [
        f"{investor_id},{bondledger_investors[investor_id].address},{principal}"
        for investor_id, principal in bondledger_allocations
    ]
    allocations.write_text("\n".join(["investor_id,wallet,principal", *rows]) + "\n")

    ts = load_termsheet(term_sheet)
    currency = ts.bond.currency
    for a in plan(ts, read_allocations(allocations), allocations.name):
        amount = Decimal(from_minor(a.cash, currency)).quantize(Decimal("0.01"), rounding=ROUND_UP)
        bondledger_cash.fund(bondledger_investors[a.row.investor_id], amount, currency)
    issued = (
        bondledger_investors.platform.run("issue", term_sheet, "--allocations", allocations, "--format", "json").check().json()
    )
    return Bond(
        bondledger_investors.platform,
        issued["isin"],
        issued["address"],
        currency,
        term_sheet,
        list(bondledger_allocations),
        issued,
    )


@pytest.fixture
def bondledger_clock(bondledger_devnet) -> Clock:
    """The devnet's clock: `.now()`, `.move_to("2024-08-07T02:00:00")`, `.advance(timedelta(days=30))`."""
    return Clock(bondledger_devnet)
