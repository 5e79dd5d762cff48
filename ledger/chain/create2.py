"""Deterministic deployments: every contract bondledger deploys has an address known before
anything is sent, so a deployment interrupted at any point is never made twice.

Why. A run killed (or refused by the node) after a deployment's transaction was sent but before
the register recorded it would, with a plain CREATE, deploy the contract again on a re-run: a
second registry, a second bond for the same ISIN, an orphan the register does not follow. With
the address fixed in advance, a re-run looks there first: code at the address means the contract
is on chain (deployed by the interrupted run, or by a transaction of it that was still
unconfirmed when it died), and only what is missing is sent. The register records a deployment
only once it is whole (issuance.deploy records the platform in one transaction at the end).

How. CREATE2 through the deterministic-deployment proxy at 0x4e59b448…956C (Arachnid's, the
factory the EVM ecosystem shares):

    address = keccak256(0xff ‖ proxy ‖ salt ‖ keccak256(init code))[12:]

- salt = keccak256("bondledger:<kind>:<label>:<document sha256>"): the kind (registry, dvp,
  paying_agent, cash, bond, fund), the label (the contract's name, a currency code, an ISIN or
  a fund code) and, for bonds and funds, the term sheet's hash;
- the init code is the compiled contract plus its constructor arguments, among them the operator
  who becomes its admin (every constructor takes its admin as an argument: none trusts
  msg.sender, which here is the proxy) and the platform contracts it is wired to. So an operator
  has one platform per chain and an ISIN one bond per term sheet, another operator's land
  elsewhere, and the address also pins the exact bytecode (another compiler, another address).
- The proxy: anvil has it from genesis, as do most public chains. Where it is missing it is
  deployed by its well-known keyless transaction: pre-signed without EIP-155 replay protection,
  so one signature serves every chain and gives the same sender and address everywhere; the
  operator first pays that sender the 0.01 ether of its gas. A node that takes only EIP-155
  transactions (geth's default) is refused in one line saying how to proceed.
- A contract found on chain starts being indexed where it was created: at its first log. Every
  bondledger contract grants its roles in its constructor, so its first log (RoleGranted) is in
  the transaction that created it.

Why not a factory of our own: its address would itself have to be deterministic (a CREATE
address moves with the operator's nonce, which every transaction moves), and would change with
every compiler or source change; the shared proxy's code never changes.
"""

from dataclasses import dataclass

from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError, Web3RPCError

from ledger.chain import codec
from ledger.chain import Chain, Signer, explain
from ledger.chain.codec import describe_revert
from ledger.errors import ChainError
from ledger.chain.evm import UnsupportedNode, require_cancun

PROXY = "0x4e59b44847b379578588920cA78FbF26c0B4956C"
#: the proxy's runtime code (what its creation returns; anvil's genesis holds the same)
PROXY_CODE = (
    "0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe0"
    "3601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3"
)
#: its keyless deployment: nonce 0, gas price 100 gwei, gas 100,000, v = 27, r = s = 0x2222…
PROXY_DEPLOYER = "0x3fAB184622Dc19b6109349B94811493BF2a45362"
PROXY_DEPLOYMENT = (
    "0xf8a58085174876e800830186a08080b853604580600e600039806000f350fe" + PROXY_CODE[2:] + "1ba0" + "22" * 32 + "a0" + "22" * 32
)
PROXY_DEPLOYMENT_COST = 100_000 * 100 * 10**9  # gas limit x gas price, in wei


@dataclass(frozen=True)
class Deployment:
    """A contract at its deterministic address, and the transaction that created it."""

    address: str
    block_number: int
    tx_hash: str
    found: bool  # already on chain (an earlier run's), not deployed by this call

    def receipt(self) -> dict:
        """The two fields of a receipt the indexer's `follow` reads."""
        return {"blockNumber": self.block_number, "transactionHash": HexBytes(self.tx_hash)}


def salt(kind: str, label: str, document_sha256: str = "") -> bytes:
    return keccak(text=f"bondledger:{kind}:{label}:{document_sha256}")


def init_code(chain: Chain, name: str, *args) -> str:
    """The creation code of contract `name` with its constructor arguments (hex); `chain` is kept
    for callers, the encoding needs none."""
    return codec.init_code(name, args)


def address_of(salt_: bytes, code: str) -> str:
    return to_checksum_address(keccak(b"\xff" + bytes.fromhex(PROXY[2:]) + salt_ + keccak(hexstr=code))[12:])


def locate(chain: Chain, address: str) -> Deployment | None:
    """The deployment at `address`, or None if nothing is there yet."""
    if not chain.w3.eth.get_code(to_checksum_address(address)):
        return None
    logs = chain.rpc("eth_getLogs", [{"address": address, "fromBlock": "0x0", "toBlock": "latest"}])
    if not logs:
        raise ChainError(f"{address} holds code that never logged: not a bondledger deployment")
    first = min(logs, key=lambda log: (int(log["blockNumber"], 16), int(log["logIndex"], 16)))
    return Deployment(to_checksum_address(address), int(first["blockNumber"], 16), first["transactionHash"], True)


def ensure_proxy(signer: Signer) -> None:
    """Deploys the deterministic-deployment proxy where the chain lacks it (see the module's notes)."""
    chain = signer.chain
    code = chain.w3.eth.get_code(PROXY)
    if code:
        if code.to_0x_hex() != PROXY_CODE:
            raise UnsupportedNode(
                f"the node at {chain.rpc_url} holds other code at {PROXY}, the deterministic-deployment proxy's address"
            )
        return
    how = f"deploy it at {PROXY} (its keyless transaction, or the node's own genesis) and run again"
    if chain.w3.eth.get_transaction_count(PROXY_DEPLOYER) != 0:
        raise UnsupportedNode(
            f"the node at {chain.rpc_url} has no deterministic-deployment proxy and its deployer's nonce is used: {how}"
        )
    short = PROXY_DEPLOYMENT_COST - chain.w3.eth.get_balance(PROXY_DEPLOYER)
    if short > 0:
        fees = signer.fees()
        tx = {
            "to": PROXY_DEPLOYER,
            "value": short,
            "gas": 21_000,
            "chainId": chain.chain_id,
            "nonce": signer._next_nonce(),
            **fees,
        }
        signer.wait(signer.send(tx), "pay the gas of the deterministic-deployment proxy")
    try:
        tx_hash = chain.w3.eth.send_raw_transaction(HexBytes(PROXY_DEPLOYMENT))
    except Web3RPCError as exc:
        if chain.w3.eth.get_code(PROXY):  # an interrupted run's copy of it was mined meanwhile
            return
        raise UnsupportedNode(
            f"the node at {chain.rpc_url} has no deterministic-deployment proxy and refused its keyless deployment "
            f"({explain(exc)}; a node that takes only EIP-155 transactions needs e.g. --rpc.allow-unprotected-txs): {how}"
        ) from None
    signer.wait(tx_hash, "deploy the deterministic-deployment proxy")
    if chain.w3.eth.get_code(PROXY).to_0x_hex() != PROXY_CODE:
        raise UnsupportedNode(f"the deterministic-deployment proxy did not land at {PROXY} on the node at {chain.rpc_url}")


def prepare(signer: Signer) -> None:
    """Before a run of deployments: the node runs our EVM (or a one-line refusal, nothing sent),
    and has the proxy."""
    require_cancun(signer.chain)
    ensure_proxy(signer)


def deploy(signer: Signer, name: str, *args, salt: bytes, what: str) -> Deployment:
    """Contract `name` at its deterministic address: found there, or deployed there now.
    Call `prepare` first."""
    chain = signer.chain
    code = init_code(chain, name, *args)
    address = address_of(salt, code)
    found = locate(chain, address)
    if found is not None:
        return found
    data = "0x" + salt.hex() + code[2:]
    try:
        gas = chain.w3.eth.estimate_gas({"from": signer.address, "to": PROXY, "data": data})
    except (ContractLogicError, Web3RPCError) as exc:
        raise ChainError(f"{what}: {explain(exc)}") from None
    tx_hash = signer.send_data(PROXY, data, gas + gas // 5, signer.fees())
    receipt = signer.wait_raw(tx_hash, what, check=False)
    if receipt["status"] == "0x1" and chain.w3.eth.get_code(address):
        return Deployment(address, int(receipt["blockNumber"], 16), receipt["transactionHash"], False)
    # The proxy reverts when the address is taken: by a transaction of an interrupted run that
    # was still unconfirmed when this one looked. Then that is the deployment.
    found = locate(chain, address)
    if found is not None:
        return found
    raise ChainError(
        f"{what}: transaction {receipt['transactionHash']} reverted ({describe_revert(signer.revert_data(receipt))})"
    )
