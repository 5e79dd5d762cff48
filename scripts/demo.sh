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
field() { .venv/bin/python -c "import json, sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }

BOND=HK0000987658
FUND=03999
RED_DOT=0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f   # the sample authorized participant (anvil account 8)
HARBOUR=0x70997970C51812dc3A010C7d01b50e0d17dc79C8   # harbour_pension (anvil account 1)
KOWLOON=0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC   # kowloon_life (anvil account 2)

echo "== devnet: anvil on a free port, its clock at the sample bond's issue date"
bl devnet up --port 0 --at 2024-02-07T01:00:00
trap 'bl devnet down >/dev/null' EXIT

echo "== issue the sample HK\$2bn green bond (scripts/issue_test_bond.py)"
.venv/bin/python scripts/issue_test_bond.py

echo "== coupon schedule"
bl schedule examples/green_bond_hkd.toml

echo "== a secondary bond trade: harbour_pension sells 100 bonds to kowloon_life, DvP"
bl cash mint HKD "$KOWLOON" 5000000 >/dev/null
bl cash allow HKD 5000000 --dev-account 2 >/dev/null
ID=$(bl trade "$BOND" --seller harbour_pension --buyer kowloon_life --quantity 100 --price 99.50 \
      --settlement-date 2024-02-07 --format json | field instruction_id)
bl affirm "$ID" --dev-account 1
bl affirm "$ID" --dev-account 2
bl settle

echo "== a tokenized ETF next to the bond: launch, a creation, a trade, a new NAV, a redemption"
bl investors import examples/authorized_participants.csv
bl etf launch examples/etf_hkd.toml
bl cash mint HKD "$RED_DOT" 5000000 >/dev/null
bl cash allow HKD 5000000 --dev-account 8 >/dev/null
bl etf create "$FUND" --ap red_dot_securities --units 100000
bl cash mint HKD "$HARBOUR" 1000000 >/dev/null
bl cash allow HKD 1000000 --dev-account 1 >/dev/null
ID=$(bl trade "$FUND" --seller red_dot_securities --buyer harbour_pension --quantity 10000 --price 25.50 \
      --settlement-date 2024-02-07 --format json | field instruction_id)
bl affirm "$ID" --dev-account 8
bl affirm "$ID" --dev-account 1
bl settle
bl etf nav "$FUND" 25.61
bl etf redeem "$FUND" --ap red_dot_securities --units 50000

echo "== the first coupon: the devnet's clock moves to its payment date; holders of record are paid"
bl devnet warp 2024-08-07T02:00:00
bl coupon pay "$BOND"
bl register payments "$BOND"

echo "== green bond reporting: proceeds allocated to the framework's categories (ICMA GBP)"
bl green allocate "$BOND" --category clean_transportation --amount 500000000 --project "Electric buses" >/dev/null
bl green allocate "$BOND" --category green_buildings --amount 250000000 --project "Zero-carbon school" >/dev/null
bl green report "$BOND"

echo "== register: instruments"
bl register instruments
echo "== register: holders of $BOND"
bl register holders "$BOND"
echo "== register: holders of $FUND"
bl register holders "$FUND"
echo "== register: creations and redemptions of $FUND"
bl register flows "$FUND"
echo "== register: settlements"
bl register settlements
echo "== register: stamp duty on every settled transfer"
bl register stamp-duty

echo "== reconcile the register with the chain"
bl reconcile "$BOND"
bl reconcile "$FUND"

echo "== prove the register against the chain (every row's log, every log's row, the audit log)"
bl verify

cat <<EOT

The register this demo built is $BONDLEDGER_HOME/register.db. To read it as an auditor does,
in a browser, with a JSON API beside it (read-only; the page shows the last reconciliation the
register recorded above; the demo's devnet has stopped, so "reconcile now" answers 503):

    .venv/bin/bondledger --db $BONDLEDGER_HOME/register.db serve --read-only --port 8000
    then open http://127.0.0.1:8000/   (API: http://127.0.0.1:8000/docs)
EOT
