"""The register's schema migrations (Alembic). `ledger.register.db.Register` runs them on open; see env.py."""
