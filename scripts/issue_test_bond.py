#!/usr/bin/env python3
"""Mint the sample green bond (examples/) on a devnet: deploy, onboard, fund, issue.

Usage: scripts/issue_test_bond.py [--rpc-url URL] [--db PATH_OR_URL]
Defaults as for `bondledger` (BONDLEDGER_RPC_URL, the running `devnet up`, BONDLEDGER_DB).
"""

import argparse
import sys

from issuance.context import Context
from issuance.sample import issue_sample_bond
from ledger.errors import BondledgerError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpc-url")
    parser.add_argument("--db")
    args = parser.parse_args()
    try:
        issue_sample_bond(Context.open(args.rpc_url, args.db))
    except BondledgerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
