"""How many confirmations make a block final, from --confirmations, BONDLEDGER_CONFIRMATIONS or the
chain's default, and which rows are provisional."""

import pytest

from ledger.register import finality
from ledger.errors import InputError


def test_confirmations_come_from_the_option_then_the_environment_then_the_chain(monkeypatch):
    monkeypatch.delenv("BONDLEDGER_CONFIRMATIONS", raising=False)
    assert finality.confirmations(31337) == 0
    assert finality.confirmations(1) == finality.DEFAULT_CONFIRMATIONS
    monkeypatch.setenv("BONDLEDGER_CONFIRMATIONS", "12")
    assert finality.confirmations(1) == finality.confirmations(31337) == 12
    assert finality.confirmations(1, 3) == 3
    monkeypatch.setenv("BONDLEDGER_CONFIRMATIONS", "twelve")
    with pytest.raises(InputError, match="BONDLEDGER_CONFIRMATIONS: 'twelve' is not a whole number of blocks"):
        finality.confirmations(1)
    with pytest.raises(InputError, match="--confirmations: -1"):
        finality.confirmations(1, -1)


def test_rows_above_the_finalized_height_are_provisional():
    assert not finality.is_provisional(10, 10)
    assert finality.is_provisional(11, 10)
    assert finality.is_provisional(0, -1)  # nothing final yet
    assert not finality.is_provisional(None, -1)  # an off-chain row
