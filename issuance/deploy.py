"""Deploying the shared contracts: the investor registry, the DvP settlement venue, the paying
agent and one cash token per currency. Re-running deploys only what this register lacks."""

from collections.abc import Callable

from issuance.context import Context
from ledger.indexer import follow
from ledger.money import CURRENCIES


def _deploy(ctx: Context, artifact: str, kind: str, label: str, *args) -> str:
    record = ctx.register.contract(kind, label if kind == "cash" else None)
    if record is not None:
        return record.address
    contract, receipt = ctx.signer.deploy(artifact, *args, what=f"deploy {label}")
    with ctx.register.session() as s:
        follow(s, ctx.chain, kind, label, contract.address, receipt)
        ctx.register.audit(s, ctx.signer.address, "deploy", {"contract": artifact, "label": label, "address": contract.address})
        s.commit()
    return contract.address


def deploy_base(ctx: Context, progress: Callable[[str], None] | None = None) -> dict[str, str]:
    """Registry, DvP settlement, paying agent and cash tokens (HKD, CNH, USD, EUR): label -> address."""
    operator = ctx.signer.address
    plan = [
        ("InvestorRegistry", "registry", "InvestorRegistry", operator),
        ("DvPSettlement", "dvp", "DvPSettlement", operator),
        ("PayingAgent", "paying_agent", "PayingAgent", operator),
    ]
    plan += [("CashToken", "cash", code, code, f"Tokenized {code}", operator) for code in CURRENCIES]
    deployed = {}
    for artifact, kind, label, *args in plan:
        deployed[label] = _deploy(ctx, artifact, kind, label, *args)
        if progress:
            progress(label)
    # The venue settles only against cash tokens it has listed.
    dvp = ctx.chain.contract("DvPSettlement", deployed["DvPSettlement"])
    unlisted = [deployed[code] for code in CURRENCIES if not dvp.functions.isCashListed(deployed[code]).call()]
    ctx.signer.transact_many((dvp.functions.setCashListed(address, True), "list a cash token") for address in unlisted)
    return deployed
