"""`issue` decides eligibility in Python before the bond exists (ledger.eligibility) and the bond
decides it on chain (ERC-1404's `detectTransferRestriction`, ERC-7943's `canReceive`). The two
must give the same reason for every kind of investor, and the code tables in ledger/codes.py
must be the numbers the contracts use.

The bond is deployed as `issue` deploys it, before any allocation settles: then a mint of one
token (`detectTransferRestriction(0x0, wallet, 1)`) meets no instrument rule (supply cap,
maturity) and only the receiver rule that ledger.eligibility mirrors decides."""

import csv
import re
from datetime import date

import pytest

from conftest import ISSUE_DAY
from helpers import EXAMPLES, dev_address
from issuance.inputs import read_investors
from issuance.investors import id_hash, kyc_expiry_timestamp, registry_contract
from issuance.issue import deploy_bond, policy, unix_midnight
from issuance.termsheet import load_termsheet
from ledger.chain.artifacts import ROOT
from ledger.codes import Category, Reason, category_mask
from ledger.eligibility import Record, receiver_reason

ZERO = "0x" + "00" * 20
SAMPLE_KYC_EXPIRY = kyc_expiry_timestamp(date(2030, 12, 31))  # 2031-01-01T00:00Z: refused from then on
TERMSHEET = load_termsheet(EXAMPLES / "green_bond_hkd.toml")


class Parity:
    """Asks both sides, for one wallet, why it may not receive the bond."""

    def __init__(self, world, bond_address: str):
        self.ctx = world.context()
        self.registry = registry_contract(self.ctx)
        self.bond = self.ctx.chain.contract("BondToken", bond_address)
        self.policy = policy(TERMSHEET)

    def python(self, wallet: str) -> Reason:
        record = Record.from_chain(self.registry.functions.eligibility(wallet).call())
        frozen = self.bond.functions.isFrozen(wallet).call()
        return receiver_reason(record, self.policy, self.ctx.chain.now(), frozen=frozen)

    def chain(self, wallet: str) -> Reason:
        return Reason(self.bond.functions.detectTransferRestriction(ZERO, wallet, 1).call())

    def both(self, wallet: str) -> tuple[Reason, Reason]:
        python, chain = self.python(wallet), self.chain(wallet)
        assert self.bond.functions.canReceive(wallet).call() == (chain == Reason.OK)  # the ERC-7943 account rule
        return python, chain

    def set_time(self, timestamp: int) -> None:
        """Mines a block at `timestamp`: the chain's now for both sides."""
        self.ctx.chain.rpc("evm_setNextBlockTimestamp", [timestamp])
        self.ctx.chain.rpc("evm_mine", [])
        assert self.ctx.chain.now() == timestamp


@pytest.fixture
def parity(funded) -> Parity:
    """The sample bond, deployed as `issue` deploys it, with nothing allocated yet."""
    address = deploy_bond(funded.context(), TERMSHEET)
    return Parity(funded, address)


def register_investor(parity: Parity, investor_id: str, wallet: str, country: str, category: Category, expiry: int) -> None:
    h = id_hash(investor_id)
    signer, registry = parity.ctx.signer, parity.registry.functions
    signer.transact(registry.setInvestor(h, country.encode(), int(category), expiry), f"register {investor_id}")
    signer.transact(registry.addWallet(h, wallet), f"add wallet of {investor_id}")


def test_the_python_rule_agrees_with_the_bond_for_every_kind_of_receiver(parity):
    register_investor(
        parity, "liberty_fund", dev_address(8), "US", Category.institutional_professional_investor, SAMPLE_KYC_EXPIRY
    )
    cases = {
        "harbour_pension (eligible professional)": (dev_address(1), Reason.OK),
        "chan_tai_man (retail)": (dev_address(7), Reason.CATEGORY_NOT_ALLOWED),
        "dev account 9 (unregistered)": (dev_address(9), Reason.RECEIVER_NOT_REGISTERED),
        "liberty_fund (a professional from the US)": (dev_address(8), Reason.JURISDICTION_NOT_ALLOWED),
    }
    for who, (wallet, expected) in cases.items():
        assert parity.both(wallet) == (expected, expected), who
    # and every sample wallet
    for row in read_investors(EXAMPLES / "investors.csv"):
        python, chain = parity.both(row.wallet)
        assert python == chain, row.investor_id


def test_the_python_rule_agrees_with_the_bond_once_kyc_has_expired(parity):
    # the sample investors' KYC runs to 2030-12-31, after the bond matures: one whose KYC ends sooner
    expiry = int(ISSUE_DAY) + 30 * 86_400
    register_investor(parity, "short_kyc_fund", dev_address(8), "HK", Category.corporate_professional_investor, expiry)
    parity.set_time(expiry - 1)
    assert parity.both(dev_address(8)) == (Reason.OK, Reason.OK)
    parity.set_time(expiry)  # valid up to, not including, its expiry
    assert parity.both(dev_address(8)) == (Reason.RECEIVER_KYC_EXPIRED, Reason.RECEIVER_KYC_EXPIRED)

    # a day past the sample investors' expiry: the receiver's KYC is checked before the bond's maturity
    parity.set_time(SAMPLE_KYC_EXPIRY + 86_400)
    harbour = dev_address(1)
    assert parity.both(harbour) == (Reason.RECEIVER_KYC_EXPIRED, Reason.RECEIVER_KYC_EXPIRED)
    assert parity.both(dev_address(7)) == (Reason.RECEIVER_KYC_EXPIRED, Reason.RECEIVER_KYC_EXPIRED)  # expiry before category
    assert parity.both(dev_address(9)) == (Reason.RECEIVER_NOT_REGISTERED, Reason.RECEIVER_NOT_REGISTERED)


def test_the_python_rule_agrees_with_the_bond_for_a_frozen_wallet(parity):
    harbour = dev_address(1)
    parity.ctx.signer.transact(parity.bond.functions.setAddressFrozen(harbour, True), "freeze")
    assert parity.both(harbour) == (Reason.RECEIVER_FROZEN, Reason.RECEIVER_FROZEN)
    # a frozen retail wallet: frozen is checked before the category
    parity.ctx.signer.transact(parity.bond.functions.setAddressFrozen(dev_address(7), True), "freeze")
    assert parity.both(dev_address(7)) == (Reason.RECEIVER_FROZEN, Reason.RECEIVER_FROZEN)


def test_the_reason_codes_are_the_contracts_numbers(parity):
    source = (ROOT / "contracts" / "interfaces" / "ISecurityToken.sol").read_text()
    declared = {name: int(value) for name, value in re.findall(r"uint8 internal constant (\w+) = (\d+);", source)}
    assert declared == {r.name: r.value for r in Reason}

    bond, chain = parity.bond.functions, parity.chain
    detect = bond.detectTransferRestriction
    parity.ctx.signer.transact(bond.mint(dev_address(1), 12_000), "mint")
    assert detect(dev_address(9), dev_address(1), 1).call() == Reason.SENDER_NOT_REGISTERED
    assert detect(dev_address(1), dev_address(2), 12_001).call() == Reason.INSUFFICIENT_BALANCE
    assert detect(dev_address(1), dev_address(2), 12_000).call() == Reason.OK
    assert bond.canTransfer(dev_address(1), dev_address(2), 12_000).call() is True
    parity.ctx.signer.transact(bond.setFrozenTokens(dev_address(1), 2_000), "freeze 2,000 tokens")
    assert detect(dev_address(1), dev_address(2), 10_001).call() == Reason.INSUFFICIENT_UNFROZEN_BALANCE
    assert bond.canTransfer(dev_address(1), dev_address(2), 10_001).call() is False
    assert detect(dev_address(1), dev_address(2), 10_000).call() == Reason.OK
    parity.ctx.signer.transact(bond.setAddressFrozen(dev_address(1), True), "freeze")
    assert detect(dev_address(1), dev_address(2), 1).call() == Reason.SENDER_FROZEN
    assert detect(ZERO, dev_address(2), 40_000 - 12_000).call() == Reason.OK
    assert detect(ZERO, dev_address(2), 40_000 - 12_000 + 1).call() == Reason.SUPPLY_CAP_EXCEEDED
    parity.ctx.signer.transact(bond.pause(), "pause")
    assert chain(dev_address(2)) == Reason.PAUSED
    parity.ctx.signer.transact(bond.unpause(), "unpause")
    parity.set_time(unix_midnight(TERMSHEET.bond.maturity_date))
    assert chain(dev_address(2)) == Reason.INSTRUMENT_CLOSED

    # ERC-1404: every code has a readable message of its own
    messages = {r: bond.messageForTransferRestriction(r.value).call() for r in Reason}
    assert all(messages.values()) and len(set(messages.values())) == len(Reason)
    assert messages[Reason.INSUFFICIENT_UNFROZEN_BALANCE] == "Sender's unfrozen balance is too low"


def test_the_categories_are_the_registrys_numbers(parity):
    with open(EXAMPLES / "investors.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["category"] for r in rows} == {
        "retail",
        "professional_investor",
        "corporate_professional_investor",
        "institutional_professional_investor",
    }
    for row in rows:
        expiry, country, category = parity.registry.functions.eligibility(row["wallet"]).call()
        assert category == Category[row["category"]], row["investor_id"]
        assert bytes(country).decode() == row["country"]
        assert expiry == kyc_expiry_timestamp(date.fromisoformat(row["kyc_expiry"]))
    # the bond admits exactly the professional categories, as the term sheet asks
    assert parity.policy.category_mask == category_mask(professional_only=True) == 0b111100
    source = (ROOT / "contracts" / "interfaces" / "IInvestorRegistry.sol").read_text()
    assert "1 retail, 2 individual professional investor, 3 corporate professional investor," in source
    assert "4 institutional professional investor, 5 authorized participant" in source
    assert [c.value for c in Category] == [1, 2, 3, 4, 5]
