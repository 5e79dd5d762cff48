"""The indexer's own EIP-55 checksum (fast, on the sync's hot path) is eth_utils' exactly."""

import os

from eth_utils import to_checksum_address

from ledger.indexer import _checksum


def test_fast_checksum_equals_eth_utils_on_random_and_edge_addresses():
    addresses = ["0x" + os.urandom(20).hex() for _ in range(2_000)]
    addresses += ["0x" + "00" * 20, "0x" + "ff" * 20, "0x" + "AB" * 20, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".lower()]
    for address in addresses:
        _checksum.cache_clear()
        assert _checksum(address) == to_checksum_address(address)
