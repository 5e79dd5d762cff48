"""Who signs: the operator's key from the environment or an encrypted keystore, and, on a
local devnet (chain id 31337) only, the well-known anvil development accounts."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ledger.errors import InputError

if TYPE_CHECKING:  # eth_account loads when a key is first used, not when the CLI starts
    from eth_account.signers.local import LocalAccount

DEVNET_CHAIN_ID = 31337
# anvil's and hardhat's published test mnemonic: its keys are public, never secrets.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNT_COUNT = 10


@cache
def dev_account(index: int) -> "LocalAccount":
    """The index-th anvil development account (0 is the default operator)."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


@cache
def dev_addresses() -> frozenset[str]:
    return frozenset(dev_account(i).address for i in range(DEV_ACCOUNT_COUNT))


def from_private_key(key: str, chain_id: int, what: str = "private key") -> "LocalAccount":
    from eth_account import Account

    try:
        account = Account.from_key(key.strip())
    except (ValueError, TypeError):
        # Never echo the key itself: it may be a real one with a typo.
        raise InputError(f"{what}: not a valid secp256k1 private key (expected 32 bytes of hex)") from None
    return _guard(account, chain_id, what)


def from_keystore(path: Path, password: str | None, chain_id: int) -> "LocalAccount":
    from eth_account import Account

    try:
        keyfile = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"keystore: cannot read {path}: {exc}") from None
    if password is None:
        password = os.environ.get("BONDLEDGER_KEYSTORE_PASSWORD")
    if password is None:
        import click

        password = click.prompt(f"Password for {path}", hide_input=True, err=True)
    try:
        key = Account.decrypt(keyfile, password)
    except (ValueError, KeyError):
        raise InputError(f"keystore: wrong password or not a keystore file: {path}") from None
    return _guard(Account.from_key(key), chain_id, "keystore")


def dev_account_for(index: int, chain_id: int) -> "LocalAccount":
    if chain_id != DEVNET_CHAIN_ID:
        raise InputError(f"dev account: devnet accounts are only used on chain id {DEVNET_CHAIN_ID}, not {chain_id}")
    if not 0 <= index < DEV_ACCOUNT_COUNT:
        raise InputError(f"dev account: index {index} is not between 0 and {DEV_ACCOUNT_COUNT - 1}")
    return dev_account(index)


def operator(chain_id: int, private_key: str | None = None, keystore: Path | None = None) -> "LocalAccount":
    """The issuer's signing account: explicit key, then keystore, then (devnet only) account 0."""
    private_key = private_key or os.environ.get("BONDLEDGER_PRIVATE_KEY")
    keystore = keystore or (Path(os.environ["BONDLEDGER_KEYSTORE"]) if os.environ.get("BONDLEDGER_KEYSTORE") else None)
    if private_key:
        return from_private_key(private_key, chain_id, "BONDLEDGER_PRIVATE_KEY")
    if keystore:
        return from_keystore(keystore, None, chain_id)
    if chain_id == DEVNET_CHAIN_ID:
        return dev_account(0)
    raise InputError(
        f"operator key: none given for chain id {chain_id}; set BONDLEDGER_PRIVATE_KEY or --keystore"
    )


def _guard(account: LocalAccount, chain_id: int, what: str) -> LocalAccount:
    if chain_id != DEVNET_CHAIN_ID and account.address in dev_addresses():
        raise InputError(f"{what}: a well-known devnet key is refused on chain id {chain_id}")
    return account
