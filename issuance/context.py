"""What every issuer workflow works with: the register, the chain, and the operator's signer."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlmodel import Session

from ledger.chain import keys
from ledger.register import indexer
from ledger.chain import Chain, Signer, connect
from ledger.chain.node import resolve_rpc_url
from ledger.register.db import Register
from ledger.clock import hk_date


@dataclass
class Context:
    register: Register
    chain: Chain
    private_key: str | None = None
    keystore: Path | None = None
    _signer: Signer | None = field(default=None, repr=False)

    @classmethod
    def open(cls, rpc_url: str | None = None, db: str | None = None, unwind: bool = False, **kw) -> "Context":
        """`unwind`: for `sync`, which unwinds a reorganisation above the finalized height itself
        (and refuses one below it); every other command refuses to start on a register whose
        checkpoint is no longer on the chain (`bondledger sync` repairs a reorganisation)."""
        chain = connect(resolve_rpc_url(rpc_url))
        register = Register(db)
        register.bind_chain(chain.chain_id, chain.genesis_hash)
        # Same genesis is not enough (two anvils started at one --timestamp share it): the
        # indexed block must still be on this chain before anything is sent to it.
        if not unwind:
            indexer.check_checkpoint(register, chain)
        return cls(register, chain, **kw)

    @property
    def signer(self) -> Signer:
        """The operator (issuer): signs deployments, registrations, mints and settlements."""
        if self._signer is None:
            self._signer = Signer(self.chain, keys.operator(self.chain.chain_id, self.private_key, self.keystore))
        return self._signer

    def record(
        self,
        action: str,
        detail: dict,
        actor: str | None = None,
        write: Callable[[Session], None] | None = None,
        sync: bool = True,
    ) -> None:
        """How a workflow records what it did: its audit log entry (by `actor`, default the
        operator), in one register transaction with whatever `write(session)` adds, committed;
        then, with `sync`, the register indexed up to the chain's head, so that what the
        workflow sent is in it when the command returns."""
        with self.register.session() as s:
            if write is not None:
                write(s)
            self.register.audit(s, actor or self.signer.address, action, detail)
            s.commit()
        if sync:
            indexer.sync(self.register, self.chain)

    def signer_for(self, account) -> Signer:
        return Signer(self.chain, account)

    def chain_date(self) -> date:
        """Today on the chain's clock, in Hong Kong."""
        return hk_date(self.chain.now())
