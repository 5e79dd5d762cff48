"""Who signs: the operator's key from the environment or an encrypted keystore, and, on a
local devnet (chain id 31337) only, the well-known anvil development accounts."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ledger.errors import InputError
from ledger.settings import settings

if TYPE_CHECKING:  # eth_account loads when a key is first used, not when the CLI starts
    from eth_account.signers.local import LocalAccount

DEVNET_CHAIN_ID = 31337
# anvil's and hardhat's published test mnemonic: its keys are public, never secrets.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNT_COUNT = 10
#: How many of the mnemonic's accounts are refused off the devnet: anvil and hardhat print 10 or
#: 20 of them, and a user may ask either for more (`anvil -a 100`); all are public keys.
WELL_KNOWN_COUNT = 100
PRIVATE_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")


@cache
def dev_account(index: int) -> "LocalAccount":
    """The index-th anvil development account (0 is the default operator)."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


@cache
def dev_addresses() -> frozenset[str]:
    """The addresses of the test mnemonic's first WELL_KNOWN_COUNT accounts, derived once, on the
    first check off the devnet (about 0.1 s: the seed once, then one derivation per account)."""
    from eth_account import Account
    from eth_account.hdaccount import key_from_seed, seed_from_mnemonic

    seed = seed_from_mnemonic(DEV_MNEMONIC, "")
    return frozenset(Account.from_key(key_from_seed(seed, f"m/44'/60'/0'/0/{i}")).address for i in range(WELL_KNOWN_COUNT))


def from_private_key(key: str, chain_id: int, what: str = "private key") -> LocalAccount:
    from eth_account import Account

    key = key.strip()
    # eth-account pads an odd number of hex digits (63 become some other key) and accepts
    # anything hex-like: only exactly 32 bytes of hex are a key.
    if not PRIVATE_KEY.fullmatch(key):
        raise InputError(f"{what}: not a valid secp256k1 private key (expected 32 bytes of hex)")
    try:
        account = Account.from_key(key)
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
        password = settings().keystore_password
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
    env = settings()
    private_key = private_key or env.private_key
    keystore = keystore or env.keystore
    if private_key:
        return from_private_key(private_key, chain_id, "BONDLEDGER_PRIVATE_KEY")
    if keystore:
        return from_keystore(keystore, None, chain_id)
    if chain_id == DEVNET_CHAIN_ID:
        return dev_account(0)
    raise InputError(f"operator key: none given for chain id {chain_id}; set BONDLEDGER_PRIVATE_KEY or --keystore")


def _guard(account: LocalAccount, chain_id: int, what: str) -> LocalAccount:
    if chain_id != DEVNET_CHAIN_ID and account.address in dev_addresses():
        raise InputError(f"{what}: a well-known devnet key is refused on chain id {chain_id}")
    return account
