"""Deploying the shared contracts: the investor registry, the DvP settlement venue, the paying
agent and one cash token per currency. Re-running deploys only what this register lacks.
Bonds and funds are deployed on top of them with `token_config`."""

from collections.abc import Callable

from issuance.context import Context
from issuance.termsheet import Restrictions
from ledger.codes import category_mask
from ledger.indexer import follow
from ledger.money import CURRENCIES

NO_ADDRESS = "0x" + "00" * 20


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


def dvp_contract(ctx: Context):
    """The DvP settlement venue this register deployed."""
    return ctx.chain.contract("DvPSettlement", ctx.register.require_contract("dvp").address)


def token_config(
    ctx: Context, name: str, symbol: str, currency: str, restrictions: Restrictions, paying_agent: bool, record_times: list[int]
) -> tuple:
    """SecurityToken's TokenConfig for a bond or a fund on the shared contracts: the operator is
    admin and treasury (the issuer's or fund's cash account), cash is the `currency` token, and
    only the term sheet's investor categories and jurisdictions may receive."""
    operator = ctx.signer.address
    return (
        name,
        symbol,
        operator,
        ctx.register.require_contract("registry").address,
        ctx.register.require_contract("cash", currency).address,
        operator,  # treasury
        ctx.register.require_contract("dvp").address,
        ctx.register.require_contract("paying_agent").address if paying_agent else NO_ADDRESS,
        category_mask(restrictions.professional_investors_only),
        [c.encode() for c in restrictions.allowed_jurisdictions],
        record_times,
    )
