"""Finality: which indexed blocks the chain can still take back.

The indexer reads to the head, and records with its checkpoint the finalized height: the node's
`finalized` block (else its `safe` block) where the node has those tags, never above the head
less the configured confirmations (`--confirmations`, BONDLEDGER_CONFIRMATIONS; default 0 on a
devnet, where anvil's `finalized` tag already lags the head by two epochs of 32 blocks, and
DEFAULT_CONFIRMATIONS elsewhere, for nodes without the tags). Rows at or below that height are
final; rows above it are provisional: a reorganisation may remove them, and `sync` then unwinds
them. A reorganisation below it is refused.
"""

import functools
import inspect
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ledger.errors import ChainError, InputError
from ledger.settings import settings

if TYPE_CHECKING:  # the chain-side rules here serve `sync`'s quick look, which loads no ORM (quick.py)
    from sqlmodel import Session

#: chains on which no confirmations are needed by default (local devnets)
DEVNET_CHAIN_IDS = (31337, 1337)
#: confirmations assumed where the node has no `finalized`/`safe` tag and none are configured
DEFAULT_CONFIRMATIONS = 64


def confirmations(chain_id: int, given: int | None = None) -> int:
    """--confirmations, then BONDLEDGER_CONFIRMATIONS, then the chain's default."""
    if given is None:
        given = settings().confirmations
    if given is None:
        return 0 if chain_id in DEVNET_CHAIN_IDS else DEFAULT_CONFIRMATIONS
    if given < 0:
        raise InputError(f"--confirmations: {given} is not a whole number of blocks")
    return given


def node_finalized(chain, head: int, confirmations: int) -> tuple[int, str | None]:
    """(height, hash) the chain holds final now: its `finalized` (else `safe`) block where it has
    the tags, and never above head - confirmations. The hash is None when it is not the tag's block."""
    limit = max(head - confirmations, -1)
    for tag in ("finalized", "safe"):
        try:
            block = chain.rpc("eth_getBlockByNumber", [tag, False])
        except ChainError:  # a node without the tag answers with an error (a lost node raises on)
            block = None
        if block:
            number = int(block["number"], 16)
            return (number, block["hash"]) if number <= limit else (limit, None)
    return limit, None


def height_to_record(node_final: int, block: int, recorded: int | None) -> int:
    """The finalized height a checkpoint at `block` records: the node's (`node_finalized`), never
    above the block, never below what the register recorded before (what was final stays final,
    though a node rolled back reports a lower finalized block)."""
    final = min(node_final, block)
    return recorded if recorded is not None and recorded >= final else final


def finalized_height(session: "Session") -> int:
    """The register's finalized height: every row at or below it is final (-1: nothing indexed,
    or a register indexed before finality was recorded: nothing is known final)."""
    from ledger.register import models

    cp = session.get(models.Checkpoint, 1)
    if cp is None or cp.finalized_block is None:
        return -1
    return min(cp.finalized_block, cp.block_number)


def is_provisional(block: int | None, finalized: int) -> bool:
    """Whether a row of `block` may still be taken back by a reorganisation (`finalized`: from
    `finalized_height`). Off-chain rows (no block) are not."""
    return block is not None and block > finalized


def final_note(register) -> str:
    """ "final at block N" for reports, from the register's checkpoint."""
    with register.session() as s:
        height = finalized_height(s)
    return f"final at block {height}" if height >= 0 else "nothing final yet"


def marks_finality(query):
    """For a query of chain rows (its first argument the register): every row it gives is marked
    provisional or final against the register's finalized height, read once, before the query
    (a row indexed meanwhile is above it: provisional, the safe side)."""

    @functools.wraps(query)
    def marked(register, *args, **kwargs):
        with register.session() as s:
            final = finalized_height(s)
        result = query(register, *args, **kwargs)
        if isinstance(result, tuple):  # (block, rows): holders as of one block, a list or streamed
            block, rows = result
            if inspect.isgenerator(rows):
                return block, _marking(rows, final, block)
            for row in rows:
                row.at_finality(final, block)
            return result
        if inspect.isgenerator(result):
            return _marking(result, final)
        for row in result:
            row.at_finality(final)
        return result

    return marked


def _marking(rows: Iterator, final: int, block: int | None = None) -> Iterator:
    for item in rows:
        for row in item[1] if isinstance(item, tuple) else (item,):  # (investor id, rows) or a row
            row.at_finality(final, block)
        yield item
