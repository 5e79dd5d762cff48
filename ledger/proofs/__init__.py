"""What proves the register: reconciliation against the chain's storage (reconcile.py),
re-deriving it from events (verify.py), and the auditors' export (export.py)."""
