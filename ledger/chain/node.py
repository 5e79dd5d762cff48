"""A node by raw JSON-RPC: where it is, and calls to it over plain HTTP (singly or batched),
retried as web3 retries them. Nothing here loads web3 or the ABI codec: `sync` finding nothing
to do, the indexer and the proofs need no more (client.py's Chain adds contracts and signing)."""

import itertools
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from ledger.errors import ChainError
from ledger.settings import settings

DEFAULT_RPC_URL = "http://127.0.0.1:8545"
HTTP_TIMEOUT = 60
# Raw calls are retried as web3's HTTPProvider retries them (methods that change nothing, on a
# connection error or timeout, 5 tries 0.125 s apart doubling): the same behaviour on either path.
_RETRIES, _BACKOFF = 5, 0.125
_RETRY_ROOTS = frozenset(("admin", "net", "txpool", "testing", "evm"))  # any method under these
_RETRY_METHODS = frozenset(
    "eth_protocolVersion eth_syncing eth_chainId eth_gasPrice eth_accounts eth_blockNumber eth_getBalance "
    "eth_getStorageAt eth_getProof eth_getCode eth_getBlockByNumber eth_getBlockByHash "
    "eth_getBlockTransactionCountByNumber eth_getBlockTransactionCountByHash eth_getUncleCountByBlockNumber "
    "eth_getUncleCountByBlockHash eth_getTransactionByHash eth_getTransactionByBlockHashAndIndex "
    "eth_getTransactionByBlockNumberAndIndex eth_getTransactionReceipt eth_getTransactionCount "
    "eth_getRawTransactionByHash eth_call eth_estimateGas eth_createAccessList eth_maxPriorityFeePerGas "
    "eth_newBlockFilter eth_newPendingTransactionFilter eth_newFilter eth_getFilterChanges eth_getFilterLogs "
    "eth_getLogs eth_uninstallFilter eth_getCompilers eth_getWork eth_sign eth_signTypedData "
    "eth_sendRawTransaction".split()
)


def resolve_rpc_url(value: str | None) -> str:
    """--rpc-url, then BONDLEDGER_RPC_URL, then the devnet `devnet up` started, then :8545."""
    if value:
        return value
    if configured := settings().rpc_url:
        return configured
    from ledger.chain import devnet

    running = devnet.recorded()
    return running.rpc_url if running else DEFAULT_RPC_URL


def _json_default(value):
    """JSON for what web3's encoder took and the standard one does not: bytes (and HexBytes) as 0x hex."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@dataclass
class Node:
    """A node's JSON-RPC endpoint (`chain_id` 0 until asked: see client.connect)."""

    chain_id: int
    rpc_url: str
    _ids: Iterable[int] = field(default_factory=lambda: itertools.count(1), repr=False)
    _local: threading.local = field(default_factory=threading.local, repr=False)

    @property
    def _session(self):
        """An HTTP session (kept-alive connection) per thread, as web3 keeps them: a web server's
        worker threads may share one Chain, and a requests session is not safe across threads."""
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = self._local.session = requests.Session()
        return session

    def _post(self, payload: list | dict, retry: bool):
        """One JSON-RPC request (or batch) over HTTP, its decoded answer."""
        import json

        import requests

        body = json.dumps(payload, default=_json_default)
        for attempt in range(_RETRIES if retry else 1):
            try:
                response = self._session.post(
                    self.rpc_url, data=body, headers={"Content-Type": "application/json"}, timeout=HTTP_TIMEOUT
                )
                response.raise_for_status()
                return response.json()
            except (requests.ConnectionError, requests.HTTPError, requests.Timeout):
                if attempt == (_RETRIES if retry else 1) - 1:
                    raise
                time.sleep(_BACKOFF * 2**attempt)

    @staticmethod
    def _retried(method: str) -> bool:
        return method in _RETRY_METHODS or method.split("_")[0] in _RETRY_ROOTS

    @cached_property
    def genesis_hash(self) -> str:
        return self.rpc("eth_getBlockByNumber", ["0x0", False])["hash"]

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber", []), 16)

    def latest_block(self) -> dict:
        """The head block's header, as the node gives it (hex quantities)."""
        return self.rpc("eth_getBlockByNumber", ["latest", False])

    def now(self) -> int:
        """The chain's time: the latest block's timestamp (lifecycle rules use it, not the wall clock)."""
        return int(self.latest_block()["timestamp"], 16)

    def rpc(self, method: str, params: list):
        """A raw JSON-RPC call (no web3 formatting: fast, and for node-specific methods)."""
        response = self._post(
            {"jsonrpc": "2.0", "method": method, "params": params, "id": next(self._ids)}, self._retried(method)
        )
        if "error" in response:
            raise ChainError(f"{method}: {response['error'].get('message', response['error'])}")
        return response["result"]

    def rpc_responses(self, calls: list[tuple[str, list]]) -> list[dict]:
        """Several raw JSON-RPC calls in one HTTP request: each call's response (its `result` or
        its `error`), in the calls' order. A batch the node refuses whole is a ChainError."""
        if not calls:
            return []
        payload = [{"jsonrpc": "2.0", "method": m, "params": p, "id": next(self._ids)} for m, p in calls]
        responses = self._post(payload, retry=False)  # as web3 sends a batch: once
        if isinstance(responses, dict):  # the node refused the whole batch
            raise ChainError(f"batch of {len(calls)} calls: {responses.get('error', responses)}")
        order = {request["id"]: n for n, request in enumerate(payload)}
        return sorted(responses, key=lambda r: order.get(r.get("id"), len(order)))

    def rpc_batch(self, calls: list[tuple[str, list]]) -> list:
        """Several raw JSON-RPC calls in one HTTP request, results in order (an error raises)."""
        results = []
        for (method, _), response in zip(calls, self.rpc_responses(calls)):
            if "error" in response:
                raise ChainError(f"{method}: {response['error'].get('message', response['error'])}")
            results.append(response["result"])
        return results
