"""The register's schema migrations (Alembic). `ledger.db.Register` runs them on open; see env.py."""
