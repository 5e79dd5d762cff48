"""Chain access: a connection, contracts by name, and a signer that sends transactions and
turns reverts into one readable line (custom errors decoded against our ABIs)."""

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from hexbytes import HexBytes

if TYPE_CHECKING:  # web3 (and eth_account under it) load when a command first needs them, not for raw JSON-RPC
    from eth_account.signers.local import LocalAccount
    from web3 import Web3
    from web3.contract import Contract

from ledger.chain import artifacts
from ledger.chain.codec import calldata, decode_bytes_array, decode_result, describe_revert
from ledger.errors import ChainError
from ledger.chain.keys import DEVNET_CHAIN_ID
from ledger.chain.node import HTTP_TIMEOUT, Node

RECEIPT_TIMEOUT = 120


def connect(rpc_url: str) -> "Chain":
    chain = Chain(0, rpc_url)
    try:
        chain.chain_id = int(chain.rpc("eth_chainId", []), 16)
    except Exception as exc:  # requests' connection errors, or a server that is no node
        raise ChainError(f"cannot reach an EVM node at {rpc_url}: {type(exc).__name__}") from None
    return chain


@dataclass
class Chain(Node):
    """A node (raw JSON-RPC, `rpc` and `rpc_batch`: what the indexer and the proofs use, from
    node.py) with contracts and signing: web3 (`w3`) is built on first use, so a command that
    only reads the chain (`sync`) never loads it."""

    _contracts: dict = field(default_factory=dict, repr=False)
    #: hashes of the transactions sent through this connection, and the one being sent, so that
    #: a node lost mid-command can be reported with what is known to have been sent
    sent: list[str] = field(default_factory=list, repr=False)
    sending: str | None = field(default=None, repr=False)

    @cached_property
    def w3(self) -> "Web3":
        from web3 import Web3

        return Web3(Web3.HTTPProvider(self.rpc_url, request_kwargs={"timeout": HTTP_TIMEOUT}))

    def contract(self, name: str, address: str) -> "Contract":
        key = (name, address.lower())
        if key not in self._contracts:  # building one parses the whole ABI: tens of milliseconds
            self._contracts[key] = self.w3.eth.contract(address=to_checksum_address(address), abi=artifacts.load(name).abi)
        return self._contracts[key]

    def simulate(self, sender: str, to: str, data: str) -> str | None:
        """Runs a call once (eth_call on the latest block): None if it would succeed, else the
        revert data. Unlike eth_estimateGas it executes once, not a binary search of runs."""
        response = self.w3.provider.make_request("eth_call", [{"from": sender, "to": to, "data": data}, "latest"])
        if "error" not in response:
            return None
        error = response["error"]
        data = error.get("data")
        if isinstance(data, dict):
            data = data.get("data")
        if not isinstance(data, str) or not data.startswith("0x"):
            raise ChainError(f"eth_call: {error.get('message', error)}")
        return data


# ---------------------------------------------------------------------- raw calls (the fast path)


READ_BATCH = 500  # eth_calls per HTTP request: large enough to amortize it, small enough for any node


def read_many(chain: Chain, artifact: str, calls: list[tuple[str, str, list]], block: str | int = "latest") -> list:
    """Many view calls (address, function name, arguments) of contracts built from `artifact`,
    in JSON-RPC batches of READ_BATCH: about 0.1 ms a call against 6-7 ms for a web3 `.call()`
    (which formats every value and asks the node its chain id). Results as `codec.decode_result`
    gives them (structs as named tuples); a reverted call raises ChainError with the decoded reason."""
    tag = hex(block) if isinstance(block, int) else block
    results = []
    for i in range(0, len(calls), READ_BATCH):
        part = calls[i : i + READ_BATCH]
        batch = [("eth_call", [{"to": to, "data": calldata(artifact, fn, args)}, tag]) for to, fn, args in part]
        responses = chain.rpc_responses(batch)
        for (to, fn, _), response in zip(part, responses):
            if "error" in response:
                raise ChainError(f"{fn} at {to}: {describe_revert(revert_data_of(response['error']))}")
            results.append(decode_result(artifact, fn, response["result"]))
    return results


def read(chain: Chain, artifact: str, address: str, fn: str, args: list, block: str | int = "latest"):
    """One view call, as `read_many` reads them: `read(chain, "PayingAgent", agent, "coupon", [bond, 1]).complete`."""
    return read_many(chain, artifact, [(address, fn, args)], block)[0]


MULTICALL_READS = 500  # view calls folded into one eth_call of a contract's own `multicall`


def read_aggregated(chain: Chain, artifact: str, address: str, calls: list[tuple[str, list]], block: str = "latest") -> list:
    """As `read_many`, for many view calls (function name, arguments) of one contract that
    inherits OpenZeppelin's Multicall: MULTICALL_READS of them go in one eth_call of its
    `multicall`, those eth_calls in JSON-RPC batches. The node sets up one call where read_many
    has it set up hundreds (at 10,000 investors, an import's reads take a tenth of the time). A
    part that reverts is read again call by call, for the error of the call at fault."""
    parts = [calls[i : i + MULTICALL_READS] for i in range(0, len(calls), MULTICALL_READS)]
    requests = [
        (
            part,
            {
                "to": address,
                "data": calldata(artifact, "multicall", [[bytes.fromhex(calldata(artifact, fn, args)[2:]) for fn, args in part]]),
            },
        )
        for part in parts
    ]
    results = []
    for run in _chunks(requests, lambda r: len(r[1]["data"])):
        responses = chain.rpc_responses([("eth_call", [call, block]) for _, call in run])
        for (part, _), response in zip(run, responses):
            if "error" in response:
                results += read_many(chain, artifact, [(address, fn, args) for fn, args in part], block)
                continue
            for (fn, _), item in zip(part, decode_bytes_array(bytes.fromhex(response["result"][2:]))):
                results.append(decode_result(artifact, fn, "0x" + item.hex()))
    return results


BATCH_BYTES = 1_000_000  # a JSON-RPC batch's payload at most: nodes refuse large requests (anvil: "Invalid request")


def _chunks(items: list, size: Callable[[object], int]) -> list[list]:
    """`items` in runs of at most READ_BATCH and about BATCH_BYTES of payload each."""
    runs, run, total = [], [], 0
    for item in items:
        n = size(item)
        if run and (len(run) == READ_BATCH or total + n > BATCH_BYTES):
            runs.append(run)
            run, total = [], 0
        run.append(item)
        total += n
    return runs + [run] if run else runs


def revert_data_of(error: dict) -> str | None:
    """The revert data in a JSON-RPC error (nodes put it at `data` or `data.data`)."""
    data = error.get("data")
    if isinstance(data, dict):
        data = data.get("data")
    return data if isinstance(data, str) and data.startswith("0x") else None


def revert_data(exc: Exception) -> str | None:
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        return data
    return None


def explain(exc: Exception) -> str:
    from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, Web3RPCError

    if isinstance(exc, (ContractCustomError, ContractPanicError, ContractLogicError)):
        data = revert_data(exc)
        if data and len(data) >= 10:
            return describe_revert(data)
        return str(exc.args[0] if exc.args else exc)
    if isinstance(exc, Web3RPCError):
        return str(exc.rpc_response.get("error", {}).get("message", exc)) if exc.rpc_response else str(exc)
    return f"{type(exc).__name__}: {exc}"


# ---------------------------------------------------------------------- sending


class Signer:
    """Signs locally and sends raw transactions for one account, keeping its own nonce."""

    def __init__(self, chain: Chain, account: "LocalAccount"):
        self.chain = chain
        self.account = account
        self._nonce: int | None = None

    @property
    def address(self) -> str:
        return self.account.address

    def _next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = int(self.chain.rpc("eth_getTransactionCount", [self.address, "pending"]), 16)
        nonce = self._nonce
        self._nonce += 1
        return nonce

    def _fees(self) -> dict:
        # raw JSON-RPC, as the nonce: a run of raw transactions (send_many) never loads web3
        base = int(self.chain.latest_block().get("baseFeePerGas", "0x0"), 16)
        if self.chain.chain_id == DEVNET_CHAIN_ID:
            # A devnet's gas is free to us: a high cap keeps a long run of pre-built transactions
            # from stalling in the pool when the base fee creeps up under them.
            return {"maxFeePerGas": max(4 * base, 10**10), "maxPriorityFeePerGas": 1}
        tip = 10**9
        return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}

    def _sign_and_send(self, tx: dict) -> HexBytes:
        from web3.exceptions import Web3RPCError

        signed = self.account.sign_transaction(tx)
        self.chain.sending = signed.hash.to_0x_hex()
        try:
            tx_hash = self.chain.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Web3RPCError as exc:
            self._nonce = None  # resync: the node refused the nonce we took
            self.chain.sending = None
            raise ChainError(f"node refused the transaction: {explain(exc)}") from None
        self.chain.sent.append(self.chain.sending)
        self.chain.sending = None
        return tx_hash

    def build(self, fn, what: str, gas: int | None = None, fees: dict | None = None, raw_errors: bool = False) -> dict:
        """A signed-ready transaction for a contract call; estimating gas surfaces any revert now
        (as ChainError with the decoded reason, or as web3's own exception with `raw_errors`)."""
        from web3.exceptions import ContractLogicError, Web3RPCError

        params = {"from": self.address, "chainId": self.chain.chain_id, **(fees or self._fees())}
        if gas is None:
            try:
                gas = fn.estimate_gas({"from": self.address})
            except (ContractLogicError, Web3RPCError) as exc:
                if raw_errors:
                    raise
                raise ChainError(f"{what}: {explain(exc)}") from None
        params["gas"] = gas + gas // 5  # headroom: state can move between estimate and inclusion
        tx = fn.build_transaction(params)
        tx["nonce"] = self._next_nonce()
        return tx

    def fees(self) -> dict:
        """Current EIP-1559 fee fields, to reuse across a run of transactions."""
        return self._fees()

    def send(self, tx: dict) -> HexBytes:
        """Signs and sends a built transaction; returns its hash without waiting."""
        return self._sign_and_send(tx)

    def send_data(self, to: str, data: str, gas: int, fees: dict) -> HexBytes:
        """Signs and sends raw call data (see `calldata`) with a given gas limit; does not wait."""
        tx = {"to": to, "data": data, "gas": gas, "value": 0, "chainId": self.chain.chain_id, "nonce": self._next_nonce(), **fees}
        return self._sign_and_send(tx)

    def transact(self, fn, what: str, gas: int | None = None) -> dict:
        """Sends one contract call and waits for it; raises ChainError with the decoded reason."""
        tx_hash = self._sign_and_send(self.build(fn, what, gas))
        return self.wait(tx_hash, what)

    def deploy(self, name: str, *args, what: str | None = None) -> tuple["Contract", dict]:
        art = artifacts.load(name)
        factory = self.chain.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        receipt = self.transact(factory.constructor(*args), what or f"deploy {name}")
        return self.chain.contract(name, receipt["contractAddress"]), receipt

    def transact_many(
        self, calls: Iterable[tuple[object, str]], progress: Callable[[int, int], None] | None = None
    ) -> list[dict]:
        """Sends several calls back to back (each estimated first), then waits for all of them;
        `progress(done, total)` follows the receipts as they arrive."""
        fees = self._fees()
        hashes = []
        for fn, what in calls:
            hashes.append((self._sign_and_send(self.build(fn, what, fees=fees)), what))
        receipts = []
        for i, (tx_hash, what) in enumerate(hashes):
            receipts.append(self.wait(tx_hash, what))
            if progress:
                progress(i + 1, len(hashes))
        return receipts

    def send_many(
        self, calls: list[tuple[str, str, str] | tuple[str, str, str, str]], progress: Callable[[int, int], None] | None = None
    ) -> list[dict]:
        """Sends raw calls (to, call data, what) as one run: each call's gas measured in JSON-RPC
        batches against the current state (so the calls must not depend on each other; a call
        that does, such as a batch naming the one before it, carries a fourth element: the call
        data to measure instead, one that does the same work against the current state), then the
        transactions signed and sent in batches a block's gas at a time, receipts polled in batches. Any call that
        would revert stops the run before anything is sent (ChainError with the decoded reason).
        Returns the receipts as the node sent them (hex strings), in order."""
        if not calls:
            return []
        estimates = self._gas_used(calls)
        fees = self._fees()
        # headroom: state moves between estimate and inclusion, and a run's last call may do more
        # (completing a coupon) than it did when estimated against the state before the run
        signed = [
            self.account.sign_transaction(
                {
                    "to": to,
                    "data": data,
                    "gas": gas + gas // 5 + 50_000,
                    "value": 0,
                    "chainId": self.chain.chain_id,
                    "nonce": self._next_nonce(),
                    **fees,
                }
            ).raw_transaction
            for (to, data, *_), gas in zip(calls, estimates)
        ]
        # Sent a block's gas at a time, each window awaited before the next: a node keeps no more
        # than it can mine at once waiting (anvil's automine leaves what overflows a block pending
        # until another transaction arrives).
        limit = int(self.chain.latest_block()["gasLimit"], 16)
        receipts: list[dict] = []
        start = 0
        while start < len(signed):
            end, budget = start, 0
            while end < len(signed) and (end == start or budget + estimates[end] + estimates[end] // 5 + 50_000 <= limit):
                budget += estimates[end] + estimates[end] // 5 + 50_000
                end += 1
            hashes = self._send_raw(signed[start:end])
            receipts += self._await(hashes, [call[2] for call in calls[start:end]])
            start = end
            if progress:
                progress(len(receipts), len(calls))
        return receipts

    def _gas_used(self, calls: list[tuple[str, str, str] | tuple[str, str, str, str]]) -> list[int]:
        """Each call's gas, run once against the current state: eth_createAccessList executes a
        call once and reports its gas, where eth_estimateGas searches over many runs (most of the
        time of a large batch). The caller adds headroom for refunds and the access list's
        discount. A call that would revert is re-asked of eth_estimateGas for its revert data."""
        used = []
        calls = [(c[0], c[3] if len(c) > 3 else c[1], c[2]) for c in calls]  # what to measure
        for part in _chunks(calls, lambda c: len(c[1])):
            batch = [("eth_createAccessList", [{"from": self.address, "to": to, "data": data}, "latest"]) for to, data, _ in part]
            for (to, data, what), response in zip(part, self.chain.rpc_responses(batch)):
                result = response.get("result") or {}
                if "error" in response or result.get("error") or "gasUsed" not in result:
                    used.append(self._estimate(to, data, what))
                else:
                    used.append(int(result["gasUsed"], 16))
        return used

    def _estimate(self, to: str, data: str, what: str) -> int:
        response = self.chain.w3.provider.make_request("eth_estimateGas", [{"from": self.address, "to": to, "data": data}])
        if "error" in response:
            error = response["error"]
            revert = revert_data_of(error)
            raise ChainError(f"{what}: {describe_revert(revert) if revert else error.get('message', error)}")
        return int(response["result"], 16)

    def _send_raw(self, signed: list[bytes]) -> list[str]:
        hashes = []
        for part in _chunks(signed, lambda raw: 2 * len(raw)):
            batch = [("eth_sendRawTransaction", ["0x" + bytes(raw).hex()]) for raw in part]
            # a node lost during the request leaves these transactions' fate unknown: say so
            self.chain.sending = f"{len(part)} transaction(s) ending {keccak(bytes(part[-1])).hex()[:10]}…"
            try:
                responses = self.chain.rpc_responses(batch)
            except ChainError as exc:  # the whole batch refused
                self.chain.sending = self._nonce = None  # resync: the node refused a nonce we took
                raise ChainError(f"node refused the transaction: {exc}") from None
            self.chain.sending = None
            if bad := next((r for r in responses if "error" in r), None):
                self._nonce = None  # resync: the node refused a nonce we took
                raise ChainError(f"node refused the transaction: {bad['error']}")
            hashes += [r["result"] for r in responses]
            self.chain.sent += [r["result"] for r in responses]
        return hashes

    def _await(self, hashes: list[str], whats: list[str]) -> list[dict]:
        """The receipts of one sender's transactions, sent in nonce order: the last one's polled
        until it is in, then the others' in batches; raises on the first reverted one."""
        receipts: list[dict | None] = [None] * len(hashes)
        deadline = time.monotonic() + RECEIPT_TIMEOUT
        while True:
            waiting = [i for i, r in enumerate(receipts) if r is None][:READ_BATCH]
            if not waiting:
                break
            if receipts[-1] is None:
                # One sender's transactions are mined in nonce order: until the last is in, asking
                # for the others has the node look up receipts (anvil rebuilds each one's block)
                # while it is mining them
                waiting = [len(hashes) - 1]
            polled = self.chain.rpc_batch([("eth_getTransactionReceipt", [hashes[i]]) for i in waiting])
            for i, receipt in zip(waiting, polled):
                receipts[i] = receipt
            if any(r is None for r in polled):  # (the last one in: the others are asked at once)
                if time.monotonic() > deadline:
                    i = waiting[-1] if receipts[-1] is None else receipts.index(None)
                    raise ChainError(f"{whats[i]}: no receipt for {hashes[i]} after {RECEIPT_TIMEOUT} s")
                time.sleep(0.01)
        for receipt, h, what in zip(receipts, hashes, whats):
            if receipt["status"] != "0x1":
                raise ChainError(f"{what}: transaction {h} reverted ({describe_revert(self.revert_data(receipt))})")
        return receipts

    def wait(self, tx_hash: HexBytes, what: str) -> dict:
        receipt = self.chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT, poll_latency=0.02)
        if receipt["status"] != 1:
            raise ChainError(f"{what}: transaction {tx_hash.to_0x_hex()} reverted ({self._replay(receipt)})")
        return receipt

    def wait_raw(self, tx_hash: HexBytes, what: str, check: bool = True) -> dict:
        """As `wait`, but the receipt as the node sent it (hex strings): web3's formatting of a
        receipt with hundreds of logs costs more than the node's work. With `check=False` a
        reverted transaction's receipt is returned rather than raised."""
        deadline = time.monotonic() + RECEIPT_TIMEOUT
        hex_hash = tx_hash.to_0x_hex() if isinstance(tx_hash, HexBytes) else tx_hash
        while (receipt := self.chain.rpc("eth_getTransactionReceipt", [hex_hash])) is None:
            if time.monotonic() > deadline:
                raise ChainError(f"{what}: no receipt for {hex_hash} after {RECEIPT_TIMEOUT} s")
            time.sleep(0.005)
        if check and receipt["status"] != "0x1":
            raise ChainError(f"{what}: transaction {hex_hash} reverted ({describe_revert(self.revert_data(receipt))})")
        return receipt

    def revert_data(self, receipt: dict) -> str | None:
        """The revert data of a mined, reverted transaction: it is re-run on the state before it."""
        tx = self.chain.rpc("eth_getTransactionByHash", [receipt["transactionHash"]])
        before = hex(int(receipt["blockNumber"], 16) - 1)
        response = self.chain.w3.provider.make_request(
            "eth_call", [{"from": tx["from"], "to": tx["to"], "data": tx["input"], "gas": tx["gas"]}, before]
        )
        data = response.get("error", {}).get("data")
        return data.get("data") if isinstance(data, dict) else data

    def _replay(self, receipt: dict) -> str:
        """Why a mined transaction reverted: re-run it at its block."""
        from web3.exceptions import ContractLogicError, Web3RPCError

        tx = self.chain.w3.eth.get_transaction(receipt["transactionHash"])
        call = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "gas": tx["gas"]}
        try:
            self.chain.w3.eth.call(call, receipt["blockNumber"] - 1)
        except (ContractLogicError, Web3RPCError) as exc:
            return explain(exc)
        return "reason unknown"


def wait_until_ready(rpc_url: str, timeout: float = 10.0) -> Chain:
    """Connects, retrying until the node answers (a devnet that is still starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return connect(rpc_url)
        except ChainError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
