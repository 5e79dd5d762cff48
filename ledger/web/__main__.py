"""`python -m ledger.web`: serve the register's read-only web view."""

from ledger.web.app import main

main()
