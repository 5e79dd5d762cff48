"""An import's registry writes go in multicalls cut by upper bounds of each write's gas
(issuance.investors): the bounds must hold for the registry's heaviest writes, a large import
must stay under MULTICALL_GAS a transaction, and an import interrupted between its multicalls
must finish on a re-run without writing anything twice; on a chain of smaller blocks, smaller
multicalls."""

import csv
import json
import os
import subprocess
import sys
from datetime import date

import pytest
from eth_account import Account

from issuance import investors
from issuance.inputs import MAX_WALLETS_PER_INVESTOR, InvestorRow
from ledger.chain import Signer
from ledger.chain.codec import calldata
from ledger.codes import Category


def rows_for(n: int, prefix: str = "bulk") -> list[InvestorRow]:
    return [
        InvestorRow(
            investor_id=f"{prefix}{i:04d}",
            name=f"Investor {i}",
            wallet=Account.create().address,
            country="HK",
            category=Category.institutional_professional_investor,
            kyc_expiry=date(2030, 12, 31),
        )
        for i in range(n)
    ]


def test_the_registry_writes_cost_no_more_than_the_bounds_the_import_counts(deployed):
    """Measured as a batch of them is (the first write of a multicall warms the registry's
    storage for the rest, and the multicall's own cost is left to MULTICALL_GAS's margin)."""
    ctx = deployed.context()
    registry = investors.registry_address(ctx)

    def multicall(writes: list[bytes]) -> tuple[str, str, str]:
        return (registry, calldata("InvestorRegistry", "multicall", [writes]), "registry writes")

    def gas(writes: list[bytes]) -> int:
        return ctx.signer._gas_used([multicall(writes)])[0] - ctx.signer._gas_used([multicall([])])[0]

    ids = [investors.id_hash(f"heaviest{i}") for i in range(8)]
    new = [investors._encoded("setInvestor", [h, b"HK", 4, 2**33]) for h in ids]
    assert gas(new) <= len(ids) * investors.SET_INVESTOR_GAS
    ctx.signer.send_many([multicall(new)])
    for _ in range(MAX_WALLETS_PER_INVESTOR):  # the first wallet is the dearest: it starts the list
        adds = [investors._encoded("addWallet", [h, Account.create().address]) for h in ids]
        assert gas(adds) <= len(ids) * investors.ADD_WALLET_GAS
        ctx.signer.send_many([multicall(adds)])
    updates = [investors._encoded("setInvestor", [h, b"SG", 4, 2**33 + 1]) for h in ids]  # each refreshes 16 wallets
    per_update = investors.SET_INVESTOR_GAS + investors.SET_INVESTOR_WALLET_GAS * MAX_WALLETS_PER_INVESTOR
    assert gas(updates) <= len(ids) * per_update


def test_a_large_import_goes_in_several_multicalls_each_under_the_limit(deployed):
    ctx = deployed.context()
    registry = investors.registry_address(ctx)
    plan = investors.plan_import(ctx, registry, rows_for(250))
    assert len(plan.batches) == 3 and sum(len(b) for b in plan.batches) == 500
    used = ctx.signer._gas_used(plan.transactions(registry))
    assert max(used) <= investors.MULTICALL_GAS


def test_on_a_chain_of_smaller_blocks_the_multicalls_are_smaller_and_the_import_completes(deployed):
    ctx = deployed.context()
    ctx.chain.rpc("evm_setBlockGasLimit", [hex(8_000_000)])
    ctx.chain.rpc("evm_mine", [])
    budget = investors.multicall_gas(ctx)
    assert budget < investors.MULTICALL_GAS
    registry = investors.registry_address(ctx)
    plan = investors.plan_import(ctx, registry, rows_for(100))
    assert len(plan.batches) > 1
    assert max(ctx.signer._gas_used(plan.transactions(registry))) <= budget
    done = investors.import_investors(ctx, rows_for(100, "small"))
    assert (done.investors, done.wallets) == (100, 100)


def test_an_import_interrupted_between_multicalls_finishes_on_rerun(deployed, monkeypatch):
    rows = rows_for(250)
    registry = investors.registry_address(deployed.context())
    first_multicall = len(investors.plan_import(deployed.context(), registry, rows).batches[0])
    real = Signer.send_many

    def crash_after_first_multicall(self, calls, progress=None):
        real(self, calls[:1], progress)
        raise KeyboardInterrupt("operator pressed ^C")

    monkeypatch.setattr(Signer, "send_many", crash_after_first_multicall)
    with pytest.raises(KeyboardInterrupt):
        investors.import_investors(deployed.context(), rows)
    monkeypatch.setattr(Signer, "send_many", real)

    again = investors.import_investors(deployed.context(), rows)
    assert (again.investors, again.wallets) == (250, 250)
    assert again.investor_writes + again.wallet_writes == 500 - first_multicall  # none of the first sent twice
    assert investors.plan_import(deployed.context(), registry, rows).batches == []  # the chain holds every write
    listed = deployed.run("investors", "list", "--format", "json").json()
    assert {r.investor_id for r in rows} <= {i["investor_id"] for i in listed}
    assert deployed.run("verify").exit_code == 0


def test_an_import_sends_on_the_raw_path_without_loading_web3(deployed, tmp_path):
    path = tmp_path / "investors.csv"
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(InvestorRow.model_fields)
        out.writerows([r.investor_id, r.name, r.wallet, r.country, r.category.name, r.kyc_expiry] for r in rows_for(3))
    probe = (
        "import json, sys\n"
        "from issuance.cli import cli\n"
        "try:\n"
        "    cli(sys.argv[1:], prog_name='bondledger')\n"
        "except SystemExit as exc:\n"
        "    print(json.dumps([exc.code, 'web3' in sys.modules]), file=sys.stderr)\n"
    )
    env = {**os.environ, "BONDLEDGER_RPC_URL": deployed.rpc_url, "BONDLEDGER_DB": deployed.db_url}
    done = subprocess.run(
        [sys.executable, "-c", probe, "investors", "import", str(path)], env=env, capture_output=True, text=True, timeout=120
    )
    assert "3 investors, 3 wallets" in done.stdout, done.stderr
    assert json.loads(done.stderr.strip().splitlines()[-1]) == [0, False]
