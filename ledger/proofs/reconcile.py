"""Reconciliation: the register against the chain, at the indexed block.

Compares, for one instrument, every wallet the register knows (every wallet in its transfers
and every registered investor wallet: a holder must be one) by its balance in the register vs
`balanceOf` on chain at the indexed block; the total supply (sum of register balances vs
`totalSupply`); and each primary issuance the register records against the mint its transaction
made on chain; the payments of each coupon and of the redemption against what the paying
agent's storage says it paid; and the status of each settlement instruction of the instrument against the
venue's events and storage (ledger/register/statuses.py). Zero breaks is the normal state; each break
names what differs.
"""

from dataclasses import dataclass, field

from sqlmodel import select

from ledger.register import finality, models, statuses
from ledger.chain import Chain, read, read_many
from ledger.chain import codec
from ledger.chain.codec import decode_log
from ledger.register.db import Register
from ledger.clock import hk_date
from ledger.register.indexer import check_checkpoint
from ledger.money import minor_exponent, to_minor
from ledger.register.rows import BreakRow, ReconciliationReport
from ledger.register.views import AMOUNT_SCALE, ZERO_ADDRESS, as_of, balances, coupons


@dataclass
class Break:
    kind: str  # balance | supply | issuance | nav | coupon_unpaid | coupon_rate | coupon_quantity | coupon_payments | paid_quantity | paid_amount | instruction_status
    subject: str  # a wallet, the instrument, an allocation id, an instruction id
    register: int | str | None  # a status for instruction_status
    chain: int | str | None


@dataclass
class Reconciliation:
    isin: str
    block: int
    wallets_checked: int
    supply_register: int
    supply_chain: int
    breaks: list[Break] = field(default_factory=list)
    final_block: int = -1  # the register's finalized height: rows above it are provisional (ledger/register/finality.py)

    @property
    def ok(self) -> bool:
        return not self.breaks

    def report(self) -> ReconciliationReport:
        """What `reconcile --format json` prints and /api/reconciliation/{isin} answers."""
        return ReconciliationReport(
            isin=self.isin,
            block=self.block,
            ok=self.ok,
            wallets_checked=self.wallets_checked,
            supply_register=self.supply_register,
            supply_chain=self.supply_chain,
            breaks=[BreakRow(kind=b.kind, subject=b.subject, register=b.register, chain=b.chain) for b in self.breaks],
            final_block=self.final_block,
        )

    def as_json(self) -> dict:
        return self.report().as_json()


def reconcile(register: Register, chain: Chain, isin: str) -> Reconciliation:
    inst = register.instrument(isin)
    check_checkpoint(register, chain)
    block = as_of(register, None)
    artifact = "BondToken" if inst.kind == "bond" else "FundToken"
    t = models.Transfer
    with register.session() as s:
        reg = balances(s, inst.address, block)
        seen = set(s.exec(select(t.to_address).where(t.token == inst.address).distinct()).all())
        seen |= set(s.exec(select(t.from_address).where(t.token == inst.address).distinct()).all())
        seen |= set(s.exec(select(models.Wallet.address)).all())
        issuances = s.exec(select(models.Issuance).where(models.Issuance.token == inst.address)).all()
    seen.discard(ZERO_ADDRESS)
    wallets = sorted(seen)

    calls = [(inst.address, "balanceOf", [w]) for w in wallets] + [(inst.address, "totalSupply", [])]
    results = read_many(chain, artifact, calls, block)
    on_chain, supply_chain = dict(zip(wallets, results[:-1])), results[-1]

    result = Reconciliation(isin, block, len(wallets), sum(reg.values()), supply_chain)
    with register.session() as s:
        result.final_block = finality.finalized_height(s)
    for w in wallets:
        if reg.get(w, 0) != on_chain[w]:
            result.breaks.append(Break("balance", w, reg.get(w, 0), on_chain[w]))
    if result.supply_register != supply_chain:
        result.breaks.append(Break("supply", isin, result.supply_register, supply_chain))
    if inst.kind == "fund":
        _check_nav(register, chain, inst, block, result)
    else:
        _check_coupons(register, chain, inst, block, result)
    minted = _chain_mints(chain, inst.address, issuances)
    for row in issuances:
        on_chain = minted.get((row.tx_hash, row.investor))
        if on_chain != row.quantity:
            result.breaks.append(Break("issuance", row.allocation_id, row.quantity, on_chain))
    if inst.kind == "bond":
        _check_payments(register, chain, inst, block, result)
    _, status_breaks = statuses.instruction_breaks(register, chain, block, inst.isin)
    result.breaks += [Break("instruction_status", b.instruction_id, b.register, b.chain) for b in status_breaks]
    return result


def _check_nav(register: Register, chain: Chain, inst, block: int, result: "Reconciliation") -> None:
    """A fund's latest NAV in the register must be the one on chain at the indexed block."""
    n = models.NavRecord
    with register.session() as s:
        last = s.exec(
            select(n)
            .where(n.fund == inst.address, n.block_number <= block)
            .order_by(n.block_number.desc(), n.log_index.desc())
            .limit(1)
        ).first()
    on_chain = read(chain, "FundToken", inst.address, "nav", [], block).navPerUnit
    registered = last.nav_e6 if last else None
    if registered != on_chain:
        result.breaks.append(Break("nav", inst.isin, registered, on_chain))


def _check_coupons(register: Register, chain: Chain, inst, block: int, result: "Reconciliation") -> None:
    """Cash paid against the schedule: every coupon due by the indexed block is declared at the
    scheduled amount, completed, paid on the holdings of record, and its payments add up."""
    chain_time = int(chain.rpc("eth_getBlockByNumber", [hex(block), False])["timestamp"], 16)
    today = hk_date(chain_time)
    c = models.CouponRecord
    with register.session() as s:
        declared = {r.coupon_id: r for r in s.exec(select(c).where(c.bond == inst.address))}
    for row in coupons(register, inst.isin):
        if row.payment_date > today:
            continue
        subject = f"coupon {row.coupon} ({row.payment_date})"
        expected = int(row.amount_per_denomination.scaleb(minor_exponent(inst.currency)) * AMOUNT_SCALE)
        if row.status != "paid":
            result.breaks.append(Break("coupon_unpaid", subject, to_minor(row.paid, inst.currency), None))
            continue
        if row.declared_per_token != expected:
            result.breaks.append(Break("coupon_rate", subject, expected, row.declared_per_token))
        record = declared[row.coupon]  # a paid coupon was declared
        if record.paid_quantity != row.quantity_of_record:
            result.breaks.append(Break("coupon_quantity", subject, row.quantity_of_record, record.paid_quantity))
        if to_minor(row.paid, inst.currency) != record.paid_amount:
            result.breaks.append(Break("coupon_payments", subject, to_minor(row.paid, inst.currency), record.paid_amount))


def _check_payments(register: Register, chain: Chain, inst, block: int, result: "Reconciliation") -> None:
    """The payments the register has for each coupon and the redemption, summed, against what the
    paying agent's storage says it paid at the indexed block (quantity and amount)."""
    agent_record = register.contract("paying_agent")
    if agent_record is None:
        return
    p, c = models.Payment, models.CouponRecord
    with register.session() as s:
        paid: dict[tuple[str, int], list[int]] = {}
        for kind, coupon_id, quantity, amount in s.exec(
            select(p.kind, p.coupon_id, p.quantity, p.amount).where(p.bond == inst.address, p.block_number <= block)
        ):
            total = paid.setdefault((kind, coupon_id), [0, 0])
            total[0] += quantity
            total[1] += amount
        declared = {(r.kind, r.coupon_id) for r in s.exec(select(c).where(c.bond == inst.address, c.declared_block <= block))}
    keys = sorted(set(paid) | declared)
    calls = [(agent_record.address, "coupon", [inst.address, n]) if kind == "coupon" else (agent_record.address, "redemption", [inst.address])
             for kind, n in keys]  # fmt: skip
    for (kind, coupon_id), state in zip(keys, read_many(chain, "PayingAgent", calls, block)):
        quantity, amount = paid.get((kind, coupon_id), [0, 0])
        subject = f"{kind} {coupon_id}" if kind == "coupon" else "redemption"
        if quantity != state.paidQuantity:
            result.breaks.append(Break("paid_quantity", subject, quantity, state.paidQuantity))
        if amount != state.paidAmount:
            result.breaks.append(Break("paid_amount", subject, amount, state.paidAmount))


_ZERO_TOPIC = "0x" + "00" * 32
LOG_CHUNK = 5_000


def _chain_mints(chain: Chain, token: str, issuances: list) -> dict[tuple[str, str], int]:
    """(tx hash, receiver) -> quantity of every mint of `token` in the issuances' transactions.

    Read as the token's Transfer-from-zero logs over the blocks the rows name (eth_getLogs by
    range: a receipt per transaction costs its whole block on the node, so in full blocks that
    grows with the square of the allocations); a transaction not among them (a row naming
    another block, or a transaction with no mint) has its receipt read, as before."""
    tx_hashes = {row.tx_hash for row in issuances}
    mints: dict[tuple[str, str], int] = {}
    found: set[str] = set()
    if not tx_hashes:
        return mints
    low, high = min(row.block_number for row in issuances), max(row.block_number for row in issuances)
    topic = next(t for t, shape in codec.events("BondToken").items() if shape.name == "Transfer")
    for start in range(low, high + 1, LOG_CHUNK):
        end = min(start + LOG_CHUNK - 1, high)
        logs = chain.rpc(
            "eth_getLogs", [{"fromBlock": hex(start), "toBlock": hex(end), "address": token, "topics": [topic, _ZERO_TOPIC]}]
        )
        for log in logs:
            if log["transactionHash"] in tx_hashes and not log.get("removed"):
                found.add(log["transactionHash"])
                _add_mint(mints, token, log)
    for receipt in chain.rpc_batch([("eth_getTransactionReceipt", [h]) for h in sorted(tx_hashes - found)]):
        for log in receipt["logs"] if receipt else []:
            _add_mint(mints, token, log)
    return mints


def _add_mint(mints: dict[tuple[str, str], int], token: str, log: dict) -> None:
    if log["address"].lower() != token.lower() or log["topics"][1:2] != [_ZERO_TOPIC]:
        return
    decoded = decode_log("BondToken", log)
    if decoded and decoded[0] == "Transfer":
        key = (log["transactionHash"], decoded[1]["to"])
        mints[key] = mints.get(key, 0) + decoded[1]["value"]


def record(register: Register, result: Reconciliation) -> models.ReconciliationRecord:
    """Keeps `result` in the register (table reconciliations): the web page shows the last one."""
    import json

    row = models.ReconciliationRecord(
        isin=result.isin,
        block_number=result.block,
        ok=result.ok,
        breaks=len(result.breaks),
        summary=json.dumps(result.as_json(), separators=(",", ":")),
    )
    with register.session() as s:
        s.add(row)
        s.commit()
    return row
