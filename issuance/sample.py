"""The sample green bond on a devnet: everything `scripts/issue_test_bond.py` and `make demo`
do, from an empty chain to an allocated bond. Devnet only: investors' cash is minted to them
and authorized with their well-known anvil keys."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from issuance import cash
from issuance.context import Context
from issuance.deploy import deploy_base
from issuance.inputs import read_allocations, read_investors
from issuance.investors import import_investors
from issuance.issue import IssueResult, issue_bond, plan
from issuance.termsheet import load_termsheet
from ledger.chain import keys
from ledger.errors import InputError
from ledger.money import from_minor

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@dataclass
class SampleFiles:
    termsheet: Path = EXAMPLES / "green_bond_hkd.toml"
    investors: Path = EXAMPLES / "investors.csv"
    allocations: Path = EXAMPLES / "allocations.csv"


def dev_key_for(address: str, chain_id: int):
    for i in range(keys.DEV_ACCOUNT_COUNT):
        account = keys.dev_account_for(i, chain_id)
        if account.address == address:
            return account
    raise InputError(f"wallet {address} is not an anvil development account; fund and authorize it yourself")


def issue_sample_bond(ctx: Context, files: SampleFiles = SampleFiles(), say: Callable[[str], None] = print) -> IssueResult:
    ts = load_termsheet(files.termsheet)
    investor_rows = read_investors(files.investors)
    allocation_rows = read_allocations(files.allocations)
    allocations = plan(ts, allocation_rows, files.allocations.name)

    deployed = deploy_base(ctx)
    say(f"contracts: registry {deployed['InvestorRegistry']}, settlement {deployed['DvPSettlement']}")
    result = import_investors(ctx, investor_rows)
    say(f"investors: {result.investors} registered with {result.wallets} wallets")
    currency = ts.bond.currency
    for a in allocations:
        amount = from_minor(a.cash, currency)
        cash.mint(ctx, currency, a.row.wallet, amount)
        cash.allow(ctx, currency, amount, dev_key_for(a.row.wallet, ctx.chain.chain_id))
        say(f"cash: {a.row.investor_id} funded and authorized {amount} {currency}")
    issued = issue_bond(ctx, ts, allocation_rows, files.allocations.name)
    say(f"issued {issued.isin} at {issued.address}: {issued.settled} allocations settled DvP")
    return issued
