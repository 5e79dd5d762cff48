"""Helpers for tests: sample files, anvil accounts, and what "nothing was written" means."""

from pathlib import Path

from ledger.chain import keys
from ledger.register.db import Register

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def dev_address(i: int) -> str:
    return keys.dev_account(i).address


def fund(run, wallet_index: int, amount: str, allow: str | None = None, currency: str = "HKD") -> None:
    """Mints cash to anvil account `wallet_index` and authorizes settlement to take it."""
    assert run("cash", "mint", currency, dev_address(wallet_index), amount).exit_code == 0
    r = run("cash", "allow", currency, allow or amount, "--dev-account", wallet_index)
    assert r.exit_code == 0, r.stderr


def trade(world, isin: str, seller: str, buyer: str, quantity: int = 100, price: str = "99.50", **options) -> dict:
    """Captures a trade through the CLI (settlement on the sample issue day, 2024-02-07, unless
    `settlement_date=` says otherwise; other options by name) and returns its JSON."""
    options.setdefault("settlement_date", "2024-02-07")
    args = ["trade", isin, "--seller", seller, "--buyer", buyer, "--quantity", quantity, "--price", price]
    for key, value in options.items():
        if value is not None:
            args += [f"--{key.replace('_', '-')}", value]
    r = world.run(*args, "--format", "json")
    assert r.exit_code == 0, r.stderr
    return r.json()


def register_counts(url: str) -> dict[str, int]:
    """Rows per table: what a refused command must leave unchanged."""
    from sqlalchemy import inspect, text

    reg = Register(url)
    with reg.engine.connect() as conn:
        return {t: conn.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar() for t in inspect(reg.engine).get_table_names()}


def chain_state(rpc_url: str) -> tuple[int, int]:
    """(block number, operator nonce): what a refused command must leave unchanged."""
    from ledger.chain import connect

    chain = connect(rpc_url)
    return chain.block_number(), chain.w3.eth.get_transaction_count(keys.dev_account(0).address)


def drop_audit_guards(conn) -> None:
    """What only a database administrator can do: remove the triggers that keep the audit log
    append-only (migration 0002), as someone editing the register behind bondledger's back would."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
    else:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_update")
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_delete")
