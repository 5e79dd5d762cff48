"""Keys: devnet accounts only on chain 31337, never a key in an error message."""

import json

import pytest
from eth_account import Account

from ledger.chain import keys
from ledger.errors import InputError

FIRST_ANVIL_ACCOUNT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_the_devnet_operator_is_anvils_first_account():
    assert keys.operator(31337).address == FIRST_ANVIL_ACCOUNT


def test_no_key_on_another_chain_is_refused():
    with pytest.raises(InputError, match="operator key: none given for chain id 1"):
        keys.operator(1)


def test_well_known_devnet_keys_are_refused_off_devnet():
    key = keys.dev_account(3).key.hex()
    with pytest.raises(InputError, match="well-known devnet key is refused on chain id 137"):
        keys.operator(137, private_key=key)


def test_a_real_key_is_used_anywhere_and_a_bad_one_is_not_echoed(monkeypatch):
    account = Account.create()
    assert keys.operator(1, private_key=account.key.hex()).address == account.address
    with pytest.raises(InputError) as exc:
        keys.operator(1, private_key="0xdeadbeef-secret")
    assert "deadbeef" not in str(exc.value)


def test_keystores_decrypt_with_the_environment_password(tmp_path, monkeypatch):
    account = Account.create()
    path = tmp_path / "key.json"
    path.write_text(json.dumps(Account.encrypt(account.key, "pw", iterations=2)))
    monkeypatch.setenv("BONDLEDGER_KEYSTORE_PASSWORD", "pw")
    assert keys.operator(1, keystore=path).address == account.address
    monkeypatch.setenv("BONDLEDGER_KEYSTORE_PASSWORD", "wrong")
    with pytest.raises(InputError, match="wrong password"):
        keys.operator(1, keystore=path)


def test_dev_accounts_are_refused_off_devnet():
    with pytest.raises(InputError, match="only used on chain id 31337"):
        keys.dev_account_for(1, 1)


@pytest.mark.parametrize("index", [0, 9, 10, 19, 42, 99])
def test_every_likely_account_of_the_test_mnemonic_is_refused_off_devnet(index):
    # anvil -a 20 (hardhat's default) and beyond: the whole mnemonic is public, not just 0-9.
    Account.enable_unaudited_hdwallet_features()
    account = Account.from_mnemonic(keys.DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    for key in (account.key.hex(), account.key.to_0x_hex() if hasattr(account.key, "to_0x_hex") else "0x" + account.key.hex()):
        with pytest.raises(InputError, match="well-known devnet key is refused on chain id 1$"):
            keys.from_private_key(key, 1, "--private-key")
    assert keys.from_private_key(account.key.hex(), 31337).address == account.address


def _malformed(key: str) -> list[str]:
    return [
        key[:-1],  # 63 hex digits: eth-account would pad it into another valid key
        key + "7",  # 65
        key + "00",  # 33 bytes
        key[:-1] + "g",  # not hex
        key[:-2] + " 1",
        "",
    ]


@pytest.mark.parametrize("prefix", ["", "0x", "0X"])
@pytest.mark.parametrize("case", range(6))
def test_a_malformed_key_is_refused_without_echoing_it(prefix, case):
    key = Account.create().key.hex().removeprefix("0x")
    bad = prefix + _malformed(key)[case]
    with pytest.raises(InputError) as exc:
        keys.from_private_key(bad, 1, "--private-key")
    message = str(exc.value)
    assert message == "--private-key: not a valid secp256k1 private key (expected 32 bytes of hex)"
    assert key[:8] not in message and key[-8:] not in message


def test_a_key_outside_the_curve_order_is_refused():
    with pytest.raises(InputError, match="not a valid secp256k1 private key"):
        keys.from_private_key("0x" + "ff" * 32, 1)
    with pytest.raises(InputError, match="not a valid secp256k1 private key"):
        keys.from_private_key("00" * 32, 1)
