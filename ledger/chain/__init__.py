"""Chain access: the node client (client.py), the ABI codec, keys, addresses, compiled
contracts, CREATE2 deployment, EIP-712 and the local devnet.

The client's names are importable from here (`from ledger.chain import connect, Signer`), as
they were when this package was one module. They load on first use (PEP 562), so importing
`ledger.chain.keys` or `ledger.chain.codec` does not load web3 through the client."""

__all__ = [
    "BATCH_BYTES",
    "Chain",
    "MULTICALL_READS",
    "READ_BATCH",
    "RECEIPT_TIMEOUT",
    "Signer",
    "connect",
    "explain",
    "read",
    "read_aggregated",
    "read_many",
    "revert_data",
    "revert_data_of",
    "wait_until_ready",
]


def __getattr__(name: str):
    if name in __all__:
        from ledger.chain import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
