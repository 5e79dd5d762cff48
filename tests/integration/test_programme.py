"""The 2025 Hong Kong offering end to end, on a real anvil: a four-tranche programme (HKD, CNH,
USD, EUR) priced on one day and settled T+1, the HKD tranche in tokenised central bank money and
the USD tranche in a licensed stablecoin; a trade on the term sheet's T+2; a coupon; the HKD
tranche redeemed at maturity with its final coupon; all of it reconciled and verified. And the
programme's bad inputs refused in one line, with nothing sent or written."""

from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import World
from helpers import EXAMPLES, chain_state, dev_address, fund, register_counts
from ledger.chain import devnet

PROGRAMME = EXAMPLES / "programme_2025.toml"
ALLOCATIONS = EXAMPLES / "programme_2025"
HKD, CNH, USD, EUR = "HK000025HKD4", "HK000025CNH0", "HK000025USD0", "HK000025EUR0"
PRICING_DAY = int(datetime(2025, 11, 19, 2, tzinfo=timezone.utc).timestamp())
# investor -> (anvil account, cash token, amount) for every allocation of the sample files
FUNDING = [
    (1, "E-HKD", "1000000000"),
    (2, "E-HKD", "800000000"),
    (3, "E-HKD", "700000000"),
    (1, "CNH", "1500000000"),
    (4, "CNH", "1000000000"),
    (2, "USDHK", "200000000"),
    (4, "USDHK", "100000000"),
    (1, "EUR", "200000000"),
    (3, "EUR", "100000000"),
]
E_HKD = (
    "E-HKD",
    "--currency",
    "HKD",
    "--kind",
    "tokenised_central_bank_money",
    "--issuer",
    "Hong Kong Monetary Authority (sample)",
)
USDHK = (
    "USDHK",
    "--currency",
    "USD",
    "--kind",
    "licensed_stablecoin",
    "--issuer",
    "Harbour Stablecoin Ltd (sample)",
    "--licence",
    "SCI-2025-001",
)


@pytest.fixture
def platform(tmp_path, registers):
    """A fresh anvil on the pricing date, the platform deployed, the sample investors onboarded,
    the two new settlement assets added."""
    with devnet.running(log_dir=tmp_path, extra_args=["--timestamp", str(PRICING_DAY)]) as node:
        world = World(node.rpc_url, registers.new("register"))
        assert world.run("deploy").exit_code == 0
        assert world.run("investors", "import", EXAMPLES / "investors.csv").exit_code == 0
        for args in (E_HKD, USDHK):
            r = world.run("cash", "add", *args)
            assert r.exit_code == 0, r.stderr
        yield world


@pytest.fixture
def funded_programme(platform):
    for index, label, amount in FUNDING:
        fund(platform.run, index, amount, currency=label)
    return platform


def ok(world, *args):
    r = world.run(*args)
    assert r.exit_code == 0, r.stderr
    return r


def warp(world, day: str) -> None:
    ok(world, "devnet", "warp", f"{day}T02:00:00")


def test_the_2025_programme_from_pricing_to_redemption(funded_programme):
    world = funded_programme
    assets = {a["label"]: a for a in world.run("cash", "list", "--format", "json").json()}
    assert assets["E-HKD"]["kind"] == "tokenised_central_bank_money" and assets["HKD"]["kind"] == "tokenised_deposit"
    assert (assets["USDHK"]["kind"], assets["USDHK"]["licence"]) == ("licensed_stablecoin", "SCI-2025-001")

    # Pricing date: every tranche checked and deployed, its allocations fixed; nothing settles before T+1.
    fixed = ok(world, "programme", "issue", PROGRAMME, "--allocations", ALLOCATIONS, "--format", "json").json()
    assert [(t["isin"], t["settled"], t["pending"], t["settles_on"]) for t in fixed] == [
        (HKD, 0, 3, "2025-11-20"),
        (CNH, 0, 2, "2025-11-20"),
        (USD, 0, 2, "2025-11-20"),
        (EUR, 0, 2, "2025-11-20"),
    ]
    assert world.run("register", "issuances", "--format", "json").json() == []

    warp(world, "2025-11-20")
    settled = ok(world, "programme", "issue", PROGRAMME, "--allocations", ALLOCATIONS, "--format", "json").json()
    assert [t["settled"] for t in settled] == [3, 2, 2, 2]
    again = ok(world, "programme", "issue", PROGRAMME, "--allocations", ALLOCATIONS, "--format", "json").json()
    assert [(t["settled"], t["already_settled"]) for t in again] == [(0, 3), (0, 2), (0, 2), (0, 2)], "safe to re-run"

    # The auditor's question: which primary settlements were in central bank money?
    cbm = world.run("register", "issuances", "--kind", "tokenised_central_bank_money", "--format", "json").json()
    assert {(r["isin"], r["settlement_asset"]) for r in cbm} == {(HKD, "E-HKD")} and len(cbm) == 3
    by_isin = {r["isin"]: r for r in world.run("register", "issuances", "--format", "json").json()}
    assert (by_isin[USD]["settlement_asset"], by_isin[USD]["asset_kind"]) == ("USDHK", "licensed_stablecoin")
    assert (by_isin[CNH]["settlement_asset"], by_isin[CNH]["asset_kind"]) == ("CNH", "tokenised_deposit")

    # Identifiers in the register and on chain (ERC-1643 documents).
    instruments = {i["isin"]: i for i in world.run("register", "instruments", "--format", "json").json()}
    assert (instruments[HKD]["dti"], instruments[HKD]["issuer_lei"], instruments[HKD]["settlement_asset"]) == (
        "HKGB25HKD",
        "5493HKSARGOVTGB25063",
        "E-HKD",
    )
    bond = world.chain().contract("BondToken", instruments[HKD]["address"]).functions
    uri, _, _ = bond.getDocument(b"DTI".ljust(32, b"\0")).call()
    assert uri.endswith(":HKGB25HKD")
    assert bond.getDocument(b"LEI".ljust(32, b"\0")).call()[0].endswith(":5493HKSARGOVTGB25063")
    assert bond.isin().call() == HKD

    # The tranche's terms in the ICMA Bond Data Taxonomy's shape; the green report names the framework's hash.
    bdt = ok(world, "export-terms", HKD, "--format", "icma-bdt").json()["ICMABondDataTaxonomy"]
    assert bdt["Party"] == [
        {"PID": "LEI-5493HKSARGOVTGB25063", "PartyName": instruments[HKD]["issuer"], "LEIIdentifier": "5493HKSARGOVTGB25063"}
    ]
    assert (bdt["Issuance"]["IssuanceType"], bdt["Issuance"]["PricingDate"], bdt["Issuance"]["SettlementDate"]) == (
        "PROGRAMME",
        "2025-11-19",
        "2025-11-20",
    )
    assert bdt["Product"]["SecurityIdentifierList"] == {"ISIN": HKD, "DTI": "HKGB25HKD"}
    assert bdt["Product"]["AggregateNominalAmount"] == {"Amount": "2500000000", "Currency": "HKD"}
    assert bdt["Product"]["InterestPayment"]["InterestPayments"]["InterestPaymentFrequency"] == "SEMIANNUALLY"
    report = ok(world, "green", "report", HKD, "--format", "json").json()
    assert report["framework_sha256"] == "62bcd247e773ca82f832c940e8869b5a98cb7a4bb5c50a84fd96d5b92efece73"

    # A trade of the USD tranche, in its stablecoin, on the term sheet's T+2.
    fund(world.run, 4, "21000000", currency="USDHK")
    trade = ok(
        world,
        "trade",
        USD,
        "--seller",
        "kowloon_life",
        "--buyer",
        "straits_capital",
        "--quantity",
        100,
        "--price",
        "100",
        "--format",
        "json",
    ).json()
    assert trade["settlement_date"] == "2025-11-24"  # T+2 business days after Thursday 20 November
    for index in (2, 4):
        ok(world, "affirm", trade["instruction_id"], "--dev-account", index)
    waiting = ok(world, "settle", "--format", "json")
    assert (
        waiting.json() == [] and "nothing due today (2025-11-20); 1 instruction(s) pending, next due 2025-11-24" in waiting.stderr
    )
    warp(world, "2025-11-24")
    assert [o["status"] for o in ok(world, "settle", "--format", "json").json()] == ["settled"]
    [row] = world.run("register", "settlements", USD, "--format", "json").json()
    assert (row["settlement_asset"], row["asset_kind"]) == ("USDHK", "licensed_stablecoin")

    # A settlement asset the tranche's terms do not allow is refused, before anything is written.
    ok(
        world,
        "cash",
        "add",
        "HKDS",
        "--currency",
        "HKD",
        "--kind",
        "licensed_stablecoin",
        "--issuer",
        "Kowloon Coin Ltd (sample)",
        "--licence",
        "SCI-2025-002",
    )
    stderr = refused(
        world,
        "trade",
        HKD,
        "--seller",
        "harbour_pension",
        "--buyer",
        "kowloon_life",
        "--quantity",
        1,
        "--price",
        "100",
        "--asset",
        "HKDS",
    )
    assert "--asset: HKDS (licensed_stablecoin) is not allowed for HK000025HKD4" in stderr

    # Before the first coupons fall due, every tranche matches the chain (later, unpaid coupons are breaks).
    for isin in (HKD, CNH, USD, EUR):
        r = world.run("reconcile", isin)
        assert r.exit_code == 0, r.stdout + r.stderr

    # A coupon of the HKD tranche, paid in e-HKD.
    warp(world, "2026-05-20")
    assert ok(world, "coupon", "pay", HKD, "--format", "json").json()["complete"] is True
    paid = world.run("register", "payments", HKD, "--format", "json").json()
    assert {(p["settlement_asset"], p["asset_kind"]) for p in paid} == {("E-HKD", "tokenised_central_bank_money")}

    # Maturity: 20 November 2027 is a Saturday, so the final coupon pays on Monday the 22nd.
    warp(world, "2027-11-22")
    ok(world, "coupon", "pay", HKD)
    ok(world, "coupon", "pay", HKD)
    ok(world, "cash", "mint", "E-HKD", dev_address(0), "200000000")  # the issuer tops up its account
    redeemed = ok(world, "redeem", HKD, "--format", "json").json()
    assert [c["coupon"] for c in redeemed["coupons_paid"]] == [4], "the final coupon, paid with the principal"
    assert (redeemed["total_paid"], redeemed["complete"]) == ("2500000000.00", True)
    kinds = [p["kind"] for p in world.run("register", "payments", HKD, "--format", "json").json()]
    assert kinds.count("coupon") == 12 and kinds.count("redemption") == 3
    assert world.run("register", "holders", HKD, "--format", "json").json() == []

    r = world.run("reconcile", HKD)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert world.run("verify").exit_code == 0


# ---------------------------------------------------------------------- bad input


def refused(world, *args) -> str:
    before = (register_counts(world.db_url), chain_state(world.rpc_url))
    r = world.run(*args)
    assert r.exit_code == 2, r.stdout + r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert (register_counts(world.db_url), chain_state(world.rpc_url)) == before, "nothing sent or written"
    return r.stderr


def variant(tmp_path: Path, old: str, new: str) -> Path:
    text = PROGRAMME.read_text()
    assert old in text
    path = tmp_path / "programme.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'lei = "5493HKSARGOVTGB25063"',
            'lei = "5493HKSARGOVTGB25064"',
            "issuer.lei: '5493HKSARGOVTGB25064': bad check digits 64 (expected 63)",
        ),
        ('dti = "HKGB25HKD"', 'dti = "HKGB25HKA"', "tranche[0] (HK000025HKD4): identifiers.dti: 'HKGB25HKA' is not a DTI"),
        ('asset = "USDHK"', 'asset = "HKD"', "settlement.asset: HKD is HKD cash, not USD"),
        (
            'assets = ["licensed_stablecoin", "tokenised_deposit"]',
            'assets = ["tokenised_deposit"]',
            "settlement.asset: USDHK (licensed_stablecoin) is not allowed for HK000025USD0",
        ),
        ("issue_date = 2025-11-20", "issue_date = 2025-11-21", "is not T+1 after pricing_date 2025-11-19 (2025-11-20)"),
    ],
)
def test_a_bad_programme_is_refused_before_anything_is_sent(funded_programme, tmp_path, old, new, message):
    stderr = refused(funded_programme, "programme", "issue", variant(tmp_path, old, new), "--allocations", ALLOCATIONS)
    assert message in stderr


def test_a_missing_allocation_file_or_short_cash_refuses_every_tranche(platform, tmp_path):
    partial = tmp_path / "allocations"
    partial.mkdir()
    for f in ALLOCATIONS.glob("*.csv"):
        if f.stem != EUR:
            (partial / f.name).write_text(f.read_text())
    assert f"{EUR}.csv is missing" in refused(platform, "programme", "issue", PROGRAMME, "--allocations", partial)
    # nobody funded: the first tranche's check already fails, and no tranche is deployed
    assert "cash balance 0.00 HKD is short of" in refused(platform, "programme", "issue", PROGRAMME, "--allocations", ALLOCATIONS)


def test_a_stablecoin_needs_its_hkma_licence(platform):
    stderr = refused(platform, "cash", "add", "USDX", "--currency", "USD", "--kind", "licensed_stablecoin", "--issuer", "X Ltd")
    assert "--licence: a licensed_stablecoin needs its HKMA licence number" in stderr
    assert "USDX" not in [a["label"] for a in platform.run("cash", "list", "--format", "json").json()]
