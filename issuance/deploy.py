"""Deploying the shared contracts: the investor registry, the DvP settlement venue, the paying
agent and one cash token per currency. Bonds and funds are deployed on top of them with
`token_config`.

A platform deployment is all or nothing in the register. Each contract has a deterministic
address (ledger.chain.create2: CREATE2 with a salt of its kind and label, the operator as admin in its
init code), so a run interrupted at any point, or refused by the node, leaves at most some
contracts on chain and nothing in the register; a re-run finds those at their addresses, deploys
only what is missing, lists the cash tokens on the venue, and records the whole platform in one
register transaction at the end. The node's EVM is checked before anything is sent.
"""

from collections.abc import Callable

from issuance.context import Context
from issuance.termsheet import Restrictions
from ledger.chain import create2
from ledger.register import models
from ledger.chain.codec import struct
from ledger.codes import category_mask
from ledger.register.indexer import follow
from ledger.money import CURRENCIES

NO_ADDRESS = "0x" + "00" * 20


def deploy_base(ctx: Context, progress: Callable[[str], None] | None = None) -> dict[str, str]:
    """Registry, DvP settlement, paying agent and cash tokens (HKD, CNH, USD, EUR): label -> address."""
    operator = ctx.signer.address
    plan = [
        ("InvestorRegistry", "registry", "InvestorRegistry", operator),
        ("DvPSettlement", "dvp", "DvPSettlement", operator),
        ("PayingAgent", "paying_agent", "PayingAgent", operator),
    ]
    plan += [("CashToken", "cash", code, code, f"Tokenized {code}", operator) for code in CURRENCIES]
    deployed: dict[str, str] = {}
    new: list[tuple[str, str, str, create2.Deployment]] = []
    for artifact, kind, label, *args in plan:
        record = ctx.register.contract(kind, label if kind == "cash" else None)
        if record is not None:
            deployed[label] = record.address
        else:
            if not new:
                create2.prepare(ctx.signer)  # before the first transaction: the node can run the contracts
            found = create2.deploy(ctx.signer, artifact, *args, salt=create2.salt(kind, label), what=f"deploy {label}")
            deployed[label] = found.address
            new.append((artifact, kind, label, found))
        if progress:
            progress(label)
    # The venue settles only against cash tokens it has listed.
    dvp = ctx.chain.contract("DvPSettlement", deployed["DvPSettlement"])
    unlisted = [deployed[code] for code in CURRENCIES if not dvp.functions.isCashListed(deployed[code]).call()]
    ctx.signer.transact_many((dvp.functions.setCashListed(address, True), "list a cash token") for address in unlisted)
    if new:  # the platform is whole: record it at once
        with ctx.register.session() as s:
            for artifact, kind, label, found in new:
                follow(s, ctx.chain, kind, label, found.address, found.receipt())
                if kind == "cash" and s.get(models.SettlementAsset, label) is None:
                    # The platform's own cash tokens: deposits tokenised by the operator's bank.
                    s.add(
                        models.SettlementAsset(
                            label=label,
                            address=found.address,
                            currency=label,
                            kind="tokenised_deposit",
                            issuer="the platform operator",
                        )
                    )
                ctx.register.audit(s, operator, "deploy", {"contract": artifact, "label": label, "address": found.address})
            s.commit()
    return deployed


def dvp_contract(ctx: Context):
    """The DvP settlement venue this register deployed."""
    return ctx.chain.contract("DvPSettlement", ctx.register.require_contract("dvp").address)


def token_config(
    ctx: Context, name: str, symbol: str, currency: str, restrictions: Restrictions, paying_agent: bool, record_times: list[int]
) -> tuple:
    """SecurityToken's TokenConfig (a named tuple, ledger.chain.codec.struct) for a bond or a fund on the shared contracts: the operator is
    admin and treasury (the issuer's or fund's cash account), cash is the `currency` token (a
    currency's platform token, or a settlement asset's label), and
    only the term sheet's investor categories and jurisdictions may receive."""
    operator = ctx.signer.address
    return struct("SecurityToken.TokenConfig")(
        name=name,
        symbol=symbol,
        admin=operator,
        registry=ctx.register.require_contract("registry").address,
        currency=ctx.register.require_contract("cash", currency).address,
        treasury=operator,  # the issuer's or fund's cash account
        settlement=ctx.register.require_contract("dvp").address,
        payingAgent=ctx.register.require_contract("paying_agent").address if paying_agent else NO_ADDRESS,
        categoryMask=category_mask(restrictions.professional_investors_only),
        allowedJurisdictions=[c.encode() for c in restrictions.allowed_jurisdictions],
        recordTimes=record_times,
    )
