"""ledger.settings is the one reader of the environment: no other module of ledger/ or issuance/
reads it, every BONDLEDGER_* variable named anywhere there is one of its VARIABLES, and the
README lists them all. Each setting keeps the behaviour its variable always had."""

import re
from pathlib import Path

import pytest

from ledger.errors import InputError
from ledger.settings import DEFAULT_LOCK_WAIT, VARIABLES, settings

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for d in ("ledger", "issuance") for p in (ROOT / d).rglob("*.py") if "migrations/versions" not in str(p))


def test_no_other_module_reads_the_environment():
    readers = [
        str(p.relative_to(ROOT))
        for p in SOURCES
        if p.name != "settings.py" and re.search(r"os\.environ|os\.getenv|\benvvar=", p.read_text())
    ]
    assert readers == []


def test_every_variable_named_in_the_code_is_a_setting_and_in_the_readme():
    named = {v for p in SOURCES for v in re.findall(r"BONDLEDGER_[A-Z_]+[A-Z]", p.read_text())}
    assert named <= set(VARIABLES), named - set(VARIABLES)
    readme = (ROOT / "README.md").read_text()
    assert [v for v in VARIABLES if v not in readme] == []


def test_defaults_and_empty_values(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    s = settings()
    assert (s.rpc_url, s.db, s.private_key, s.keystore, s.keystore_password, s.holder_private_key, s.anvil, s.cache) == (
        None,
    ) * 8
    assert s.home == Path(".bondledger") and s.lock_wait == DEFAULT_LOCK_WAIT
    for name in VARIABLES:
        monkeypatch.setenv(name, "")
    s = settings()
    # empty is unset, except a password (an empty one is one) and the two directories (the current one)
    assert (s.rpc_url, s.db, s.private_key, s.keystore, s.holder_private_key, s.anvil) == (None,) * 6
    assert s.keystore_password == "" and s.home == Path("") and s.cache == Path("")


def test_values_are_read_when_asked_for(monkeypatch):
    monkeypatch.setenv("BONDLEDGER_LOCK_WAIT", "2.5")
    monkeypatch.setenv("BONDLEDGER_KEYSTORE", "/keys/operator.json")
    assert settings().lock_wait == 2.5 and settings().keystore == Path("/keys/operator.json")
    monkeypatch.setenv("BONDLEDGER_LOCK_WAIT", "soon")
    s = settings()  # a bad value is refused where it is used, not by every reader of a setting
    with pytest.raises(InputError, match="BONDLEDGER_LOCK_WAIT: 'soon' is not a number of seconds"):
        s.lock_wait
