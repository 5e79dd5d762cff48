"""EIP-55 checksummed addresses, fast: eth_utils' to_checksum_address gives the same answer at
about 100x the cost (validation layers around one keccak), which a sync of many holders or an
import of thousands of wallets pays per address. Light on purpose: the CLI's input parsing
imports it."""

from functools import lru_cache

from eth_hash.auto import keccak


def checksum(address: str) -> str:
    """EIP-55 mixed case of a 0x-prefixed 40-hex-digit address (any case in)."""
    return _mixed_case(address[2:].lower())


@lru_cache(maxsize=65_536)
def _mixed_case(lower: str) -> str:
    # cached by the lower case: an import's wallets, checksummed from the CSV, are found again
    # when the sync meets them in the registry's logs (lower case)
    digest = keccak(lower.encode()).hex()
    return "0x" + "".join(c.upper() if d >= "8" else c for c, d in zip(lower, digest))
