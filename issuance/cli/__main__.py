"""`python -m issuance.cli`: the same as the `bondledger` command."""

from issuance.cli import main

main()
