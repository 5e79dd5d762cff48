"""bondledger's settings: every environment variable it reads, with its default, in one place.

This module is the only reader of the environment (tests/unit/test_settings.py holds every other
module of ledger/ and issuance/ to that); the CLI's flags and `python -m ledger.web`'s fall back
to it. The environment is read when a setting is asked for, not at import: a dozen lookups,
nothing heavy loaded, and a test or a `devnet` child that changes the environment is seen.

VARIABLES below lists them with their defaults.

An empty value counts as unset, except BONDLEDGER_KEYSTORE_PASSWORD (an empty password is one)
and BONDLEDGER_HOME and BONDLEDGER_CACHE (an empty path is the current directory), as they always have.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from ledger.errors import InputError

#: every variable bondledger reads, with its default and meaning
VARIABLES = {
    "BONDLEDGER_RPC_URL": "EVM JSON-RPC endpoint; default: the devnet `devnet up` started, else http://127.0.0.1:8545",
    "BONDLEDGER_DB": "register: SQLAlchemy URL or SQLite path; default $BONDLEDGER_HOME/register.db",
    "BONDLEDGER_HOME": "devnet state and default register directory; default .bondledger",
    "BONDLEDGER_PRIVATE_KEY": "operator's key (before --keystore)",
    "BONDLEDGER_KEYSTORE": "operator's encrypted keystore",
    "BONDLEDGER_KEYSTORE_PASSWORD": "keystore password; default: a prompt",
    "BONDLEDGER_HOLDER_PRIVATE_KEY": "an investor's key for affirm, cancel, cash allow",
    "BONDLEDGER_ANVIL": "anvil binary; default: node_modules in a checkout, else PATH",
    "BONDLEDGER_CACHE": "compiled contracts cache; default <checkout>/.cache",
    "BONDLEDGER_LOCK_WAIT": "seconds a writer waits for another; default 900",
    "BONDLEDGER_CONFIRMATIONS": "blocks below the head before a row is final (with --confirmations); default 0 on a devnet, else 64",
}

DEFAULT_HOME = ".bondledger"
DEFAULT_LOCK_WAIT = 900.0


@dataclass(frozen=True)
class Settings:
    rpc_url: str | None
    db: str | None
    home: Path
    private_key: str | None
    keystore: Path | None
    keystore_password: str | None
    holder_private_key: str | None
    anvil: str | None
    cache: Path | None  # None: the checkout's .cache (ledger.chain.artifacts knows where that is)
    lock_wait_text: str | None
    confirmations_text: str | None

    @property
    def lock_wait(self) -> float:
        """BONDLEDGER_LOCK_WAIT in seconds, checked when a writer first waits (not when any setting is read)."""
        if self.lock_wait_text is None:
            return DEFAULT_LOCK_WAIT
        try:
            return float(self.lock_wait_text)
        except ValueError:
            raise InputError(f"BONDLEDGER_LOCK_WAIT: {self.lock_wait_text!r} is not a number of seconds") from None

    @property
    def confirmations(self) -> int | None:
        """BONDLEDGER_CONFIRMATIONS in blocks; None when unset (the chain's default applies)."""
        raw = (self.confirmations_text or "").strip()
        if not raw:
            return None
        if not raw.isdigit():
            raise InputError(f"BONDLEDGER_CONFIRMATIONS: {raw!r} is not a whole number of blocks")
        return int(raw)


def settings() -> Settings:
    """The settings as the environment has them now."""
    env = os.environ
    keystore = env.get("BONDLEDGER_KEYSTORE")
    cache = env.get("BONDLEDGER_CACHE")
    return Settings(
        rpc_url=env.get("BONDLEDGER_RPC_URL") or None,
        db=env.get("BONDLEDGER_DB") or None,
        home=Path(env.get("BONDLEDGER_HOME", DEFAULT_HOME)),
        private_key=env.get("BONDLEDGER_PRIVATE_KEY") or None,
        keystore=Path(keystore) if keystore else None,
        keystore_password=env.get("BONDLEDGER_KEYSTORE_PASSWORD"),
        holder_private_key=env.get("BONDLEDGER_HOLDER_PRIVATE_KEY") or None,
        anvil=env.get("BONDLEDGER_ANVIL") or None,
        cache=Path(cache) if cache is not None else None,
        lock_wait_text=env.get("BONDLEDGER_LOCK_WAIT"),
        confirmations_text=env.get("BONDLEDGER_CONFIRMATIONS"),
    )
