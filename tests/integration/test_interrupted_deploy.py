"""Deployments interrupted for real: the bondledger process killed with SIGKILL while one of its
transactions waits in the node's pool. The register then holds no part of the platform, and a
re-run finishes the work without deploying anything twice, whether the transaction the dead
process left behind was mined after all or dropped; a bond whose deployment was unconfirmed at
the kill is not deployed a second time either.

anvil mines only when the test says (automine off), so the test knows where the process is:
each deployment is one transaction that the process sends and then waits for.
"""

import os
import subprocess
import sys
import time

import pytest
from sqlmodel import select

from helpers import EXAMPLES, dev_address
from ledger.chain import artifacts, create2
from ledger.register import models
from ledger.register.db import Register

ISIN = "HK0000987658"
PLATFORM = {"InvestorRegistry", "DvPSettlement", "PayingAgent", "HKD", "CNH", "USD", "EUR"}
WAIT = 120  # seconds: a bound on a stuck process, never a measure of speed


def pending(chain) -> int:
    return int(chain.rpc("txpool_status", [])["pending"], 16)


def kill_while_pending(world, *args, mine: int, fate: str) -> None:
    """Runs `bondledger ARGS` in its own process against `world`, mining its first `mine`
    transactions one block at a time, then kills it (SIGKILL) while its next one waits unmined;
    that one is then mined (`fate="mined"`, the deployment lands after the crash) or dropped."""
    chain = world.chain()
    env = {
        **os.environ,
        "BONDLEDGER_RPC_URL": world.rpc_url,
        "BONDLEDGER_DB": world.db_url,
        "PYTHONPATH": os.pathsep.join([str(artifacts.ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    chain.rpc("evm_setAutomine", [False])
    proc = subprocess.Popen(
        [sys.executable, "-m", "issuance.cli", *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for n in range(mine + 1):
            deadline = time.monotonic() + WAIT
            while pending(chain) == 0:
                if proc.poll() is not None:
                    pytest.fail(
                        f"bondledger {' '.join(map(str, args))} ended before its transaction {n + 1}: {proc.communicate()}"
                    )
                assert time.monotonic() < deadline, f"no transaction {n + 1} from bondledger {args}"
                time.sleep(0.02)
            if n < mine:
                chain.rpc("evm_mine", [])
        proc.kill()
        proc.wait()
        assert proc.returncode == -9
        chain.rpc("evm_mine" if fate == "mined" else "anvil_dropAllTransactions", [])
        assert pending(chain) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        chain.rpc("evm_setAutomine", [True])


def emitters(chain) -> set[str]:
    """Every address that ever logged: each of our contracts logs in its constructor."""
    logs = chain.rpc("eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest"}])
    return {chain.w3.to_checksum_address(log["address"]) for log in logs}


def recorded(db_url: str) -> dict[str, str]:
    with Register(db_url).session() as s:
        return {c.label: c.address for c in s.exec(select(models.ContractRecord)).all()}


@pytest.mark.parametrize(
    "mine, fate",
    [
        (0, "mined"),  # the registry's deployment unconfirmed at the kill, mined afterwards
        (3, "mined"),  # three contracts deployed, the HKD token's deployment in the pool
        (3, "dropped"),  # ... and that transaction lost with the process
        (7, "mined"),  # every contract deployed, their listings on the venue in the pool
    ],
)
def test_a_killed_deploy_records_nothing_and_a_rerun_deploys_nothing_twice(world, mine, fate):
    kill_while_pending(world, "deploy", mine=mine, fate=fate)
    assert recorded(world.db_url) == {}  # no part of a platform

    again = world.run("deploy")
    assert again.exit_code == 0, again.stderr
    platform = recorded(world.db_url)
    assert set(platform) == PLATFORM
    chain = world.chain()
    assert emitters(chain) == set(platform.values())  # one contract each, none deployed twice
    dvp = chain.contract("DvPSettlement", platform["DvPSettlement"])
    assert all(dvp.functions.isCashListed(platform[code]).call() for code in ("HKD", "CNH", "USD", "EUR"))
    assert world.run("verify").exit_code == 0


def test_a_bond_whose_deployment_was_unconfirmed_at_a_kill_is_deployed_once(funded):
    args = ("issue", EXAMPLES / "green_bond_hkd.toml", "--allocations", EXAMPLES / "allocations.csv")
    chain = funded.chain()
    before = emitters(chain)
    kill_while_pending(funded, *args, mine=0, fate="mined")

    again = funded.run(*args, "--format", "json")
    assert again.exit_code == 0, again.stderr
    address = again.json()["address"]
    new = emitters(chain) - before
    assert new == {address}  # one bond for the ISIN: the one the killed run sent
    assert chain.contract("BondToken", address).functions.isin().call() == ISIN
    assert funded.run("reconcile", ISIN).exit_code == 0
    holders = funded.run("register", "holders", ISIN, "--format", "json").json()
    assert {h["wallet"] for h in holders} == {dev_address(i) for i in range(1, 6)}


def test_every_contract_lands_at_its_deterministic_address(deployed):
    """The addresses follow from the salt and the init code alone (ledger.chain.create2)."""
    ctx = deployed.context()
    platform = recorded(deployed.db_url)
    operator = ctx.signer.address
    code = create2.init_code(ctx.chain, "InvestorRegistry", operator)
    assert platform["InvestorRegistry"] == create2.address_of(create2.salt("registry", "InvestorRegistry"), code)
    code = create2.init_code(ctx.chain, "CashToken", "HKD", "Tokenized HKD", operator)
    assert platform["HKD"] == create2.address_of(create2.salt("cash", "HKD"), code)


def test_a_register_that_lost_an_issue_finds_the_bond_and_its_settlements_on_chain(funded, registers):
    """The register of a run that died after the bond settled (here: a copy taken before the
    issue) re-runs `issue`: the bond is found at its address, nothing is deployed or settled twice."""
    args = ("issue", EXAMPLES / "green_bond_hkd.toml", "--allocations", EXAMPLES / "allocations.csv", "--format", "json")
    lost = type(funded)(funded.rpc_url, registers.copy(funded.db_url, "lost"))
    first = funded.run(*args)
    assert first.exit_code == 0, first.stderr
    chain = funded.chain()
    before = emitters(chain)

    again = lost.run(*args)
    assert again.exit_code == 0, again.stderr
    assert again.json() == {**first.json(), "settled": 0, "already_settled": 5}
    assert emitters(chain) == before
    assert lost.run("reconcile", ISIN).exit_code == 0
    assert [h["quantity"] for h in lost.run("register", "holders", ISIN, "--format", "json").json()] == [
        12000,
        10000,
        8000,
        7000,
        3000,
    ]


def test_a_fund_whose_launch_was_unconfirmed_at_a_kill_is_deployed_once(deployed):
    chain = deployed.chain()
    before = emitters(chain)
    kill_while_pending(deployed, "etf", "launch", EXAMPLES / "etf_hkd.toml", mine=0, fate="mined")
    assert deployed.run("register", "instruments", "--format", "json").json() == []

    again = deployed.run("etf", "launch", EXAMPLES / "etf_hkd.toml")
    assert again.exit_code == 0, again.stderr
    [fund] = deployed.run("register", "instruments", "--format", "json").json()
    assert emitters(chain) - before == {fund["address"]}  # one fund for the code: the one the killed run sent
    assert deployed.run("reconcile", fund["isin"]).exit_code == 0
