"""Investor and allocation files: each bad row is refused with its file, line and field."""

import pytest

from helpers import EXAMPLES
from issuance.inputs import parse_address, read_allocations, read_investors
from ledger.codes import Category
from ledger.errors import InputError

INVESTORS_HEADER = "investor_id,name,wallet,country,category,kyc_expiry\n"
ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(reader, path) -> str:
    with pytest.raises(InputError) as exc:
        reader(path)
    assert exc.value.exit_code == 2 and "\n" not in str(exc.value)
    return str(exc.value)


def test_the_sample_files_read():
    investors = read_investors(EXAMPLES / "investors.csv")
    assert {r.investor_id for r in investors} >= {"harbour_pension", "victoria_peak", "chan_tai_man"}
    assert investors[0].category is Category.institutional_professional_investor
    allocations = read_allocations(EXAMPLES / "allocations.csv")
    assert sum(a.principal for a in allocations) == 2_000_000_000


def test_addresses_accept_lower_case_and_valid_checksums_only():
    assert parse_address(ALICE.lower()) == ALICE
    assert parse_address(ALICE) == ALICE
    with pytest.raises(ValueError, match="bad EIP-55 checksum"):
        parse_address(ALICE.replace("C8", "c8"))
    with pytest.raises(ValueError, match="not a 20-byte hex address"):
        parse_address("0x1234")


@pytest.mark.parametrize(
    "row, expected",
    [
        ("a,A,0x1234,HK,retail,2030-01-01", "investors.csv line 2: wallet: '0x1234' is not a 20-byte hex address"),
        (f"a,A,{ALICE},XX,retail,2030-01-01", "investors.csv line 2: country: 'XX' is not an ISO 3166-1 alpha-2"),
        (f"a,A,{ALICE},HK,whale,2030-01-01", "investors.csv line 2: category: 'whale' is not one of retail"),
        (f"a,A,{ALICE},HK,retail,31/12/2030", "investors.csv line 2: kyc_expiry: '31/12/2030' is not a date (YYYY-MM-DD)"),
        (f"a b,A,{ALICE},HK,retail,2030-01-01", "investors.csv line 2: investor_id: String should match pattern"),
        (f"a,,{ALICE},HK,retail,2030-01-01", "investors.csv line 2: name: String should have at least 1 character"),
    ],
)
def test_a_bad_investor_row_names_line_and_field(tmp_path, row, expected):
    path = write(tmp_path, "investors.csv", INVESTORS_HEADER + row + "\n")
    assert expected in refused(read_investors, path)


def test_investor_rows_must_agree_and_wallets_must_not_be_shared(tmp_path):
    disagree = INVESTORS_HEADER + f"a,A,{ALICE},HK,retail,2030-01-01\na,A,{ALICE.lower()[:-1]}9,SG,retail,2030-01-01\n"
    assert "rows that disagree" in refused(read_investors, write(tmp_path, "investors.csv", disagree))
    shared = INVESTORS_HEADER + f"a,A,{ALICE},HK,retail,2030-01-01\nb,B,{ALICE},HK,retail,2030-01-01\n"
    assert "listed for both a and b" in refused(read_investors, write(tmp_path, "investors.csv", shared))


def test_missing_columns_and_empty_files_are_refused(tmp_path):
    assert "missing column(s) kyc_expiry" in refused(
        read_investors, write(tmp_path, "investors.csv", "investor_id,name,wallet,country,category\n")
    )
    assert "no rows" in refused(read_investors, write(tmp_path, "investors.csv", INVESTORS_HEADER))
    assert "cannot read" in refused(read_investors, tmp_path / "absent.csv")


@pytest.mark.parametrize(
    "row, expected",
    [
        (f"a,{ALICE},0", "allocations.csv line 2: principal: Input should be greater than 0"),
        (f"a,{ALICE},lots", "allocations.csv line 2: principal: Input should be a valid decimal"),
        ("a,0xZZ,100", "allocations.csv line 2: wallet:"),
    ],
)
def test_a_bad_allocation_row_names_line_and_field(tmp_path, row, expected):
    path = write(tmp_path, "allocations.csv", "investor_id,wallet,principal\n" + row + "\n")
    assert expected in refused(read_allocations, path)


def test_two_allocations_to_one_wallet_of_one_investor_are_refused(tmp_path):
    text = f"investor_id,wallet,principal\na,{ALICE},100\na,{ALICE},200\n"
    assert "two allocations" in refused(read_allocations, write(tmp_path, "allocations.csv", text))
