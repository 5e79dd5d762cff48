#!/usr/bin/env bash
# The main scenario on an embedded default: a fresh anvil on a free port and a SQLite
# register, both started and stopped here. Run it with `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."

export BONDLEDGER_HOME="$PWD/.bondledger/demo"
rm -rf "$BONDLEDGER_HOME"
mkdir -p "$BONDLEDGER_HOME"
unset BONDLEDGER_RPC_URL BONDLEDGER_DB
bl() { .venv/bin/bondledger "$@"; }

ISIN=HK0000987658
TERMSHEET=examples/green_bond_hkd.toml

echo "== devnet: anvil on a free port, its clock at the sample bond's issue date"
bl devnet up --port 0 --at 2024-02-07T01:00:00
trap 'bl devnet down >/dev/null' EXIT

echo "== issue the sample green bond (scripts/issue_test_bond.py)"
.venv/bin/python scripts/issue_test_bond.py

echo "== coupon schedule"
bl schedule "$TERMSHEET"

echo "== register: holders of $ISIN"
bl register holders "$ISIN"

echo "== register: transfers of $ISIN"
bl register transfers "$ISIN" --format csv | cut -d, -f1,3-6

echo "== reconcile the register with the chain"
bl reconcile "$ISIN"

echo "== register file: $BONDLEDGER_HOME/register.db"
