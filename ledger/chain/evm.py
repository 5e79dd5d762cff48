"""What the node's EVM must support before bondledger deploys anything on it.

The contracts are compiled for the Cancun upgrade (foundry.toml `evm_version`): the code uses
PUSH0 (Shanghai), MCOPY (EIP-5656) and may use transient storage (EIP-1153). A node without
them accepts the deployment transaction and fails it with "invalid opcode", possibly half way
through a platform. So before the first transaction, each feature is probed with an `eth_call`
of a few bytes of creation code (no `to`: the node runs it as a contract creation, nothing is
sent or stored) that exercises the opcode and returns 42; a node that errors or answers
anything else lacks it. The answer is kept per node for the life of the process.
"""

from ledger.chain import Chain
from ledger.errors import BondledgerError

#: feature -> creation code that uses it and returns the 32-byte word 42
PROBES = {
    # PUSH1 42, PUSH0, MSTORE, PUSH1 32, PUSH0, RETURN
    "PUSH0 (EIP-3855, Shanghai)": "0x602a5f5260205ff3",
    # PUSH1 42, PUSH1 0, TSTORE, PUSH1 0, TLOAD, PUSH1 0, MSTORE, PUSH1 32, PUSH1 0, RETURN
    "transient storage (TSTORE/TLOAD, EIP-1153, Cancun)": "0x602a60005d60005c60005260206000f3",
    # PUSH1 42, PUSH1 0, MSTORE, MCOPY(dst 32, src 0, len 32), PUSH1 32, PUSH1 32, RETURN
    "MCOPY (EIP-5656, Cancun)": "0x602a6000526020600060205e60206020f3",
}
FORTY_TWO = "0x" + "00" * 31 + "2a"
REQUIRED_EVM = "Cancun"


class UnsupportedNode(BondledgerError):
    """The node cannot run the contracts: nothing was sent or written."""

    exit_code = 2


_checked: dict[tuple[str, int, str], tuple[str, ...]] = {}


def missing_features(chain: Chain) -> tuple[str, ...]:
    """The features the node lacks (none on a Cancun node)."""
    key = (chain.rpc_url, chain.chain_id, chain.genesis_hash)
    if key not in _checked:
        missing = []
        for feature, code in PROBES.items():
            response = chain.w3.provider.make_request("eth_call", [{"data": code}, "latest"])
            if response.get("result") != FORTY_TWO:
                missing.append(feature)
        _checked[key] = tuple(missing)
    return _checked[key]


def require_cancun(chain: Chain) -> None:
    """Refuses, in one line naming what is missing, a node whose EVM is older than Cancun."""
    missing = missing_features(chain)
    if missing:
        raise UnsupportedNode(
            f"the node at {chain.rpc_url} (chain id {chain.chain_id}) does not support {' nor '.join(missing)}: "
            f"bondledger's contracts need an EVM at the {REQUIRED_EVM} upgrade or later; nothing was sent"
        )
