"""The quick look (ledger/register/quick.py) knows the schema head without Alembic: from the
migrations' file names, whose four-digit prefix is each one's revision id."""

import re

from alembic.script import ScriptDirectory

from ledger.register import db, quick


def test_every_migrations_revision_id_is_its_file_names_prefix():
    for path in (quick.MIGRATIONS / "versions").glob("[0-9]*.py"):
        revision = re.search(r"^revision: str = ['\"](\w+)['\"]", path.read_text(), re.M).group(1)
        assert revision == path.name[:4], path.name


def test_the_head_known_without_alembic_is_alembics_head():
    assert quick.head_revision() == ScriptDirectory.from_config(db.alembic_config()).get_current_head()


def test_a_register_the_quick_look_cannot_open_itself_is_left_to_the_full_path(tmp_path):
    missing = tmp_path / "none.db"
    assert quick.nothing_to_sync(f"sqlite:///{missing}", "http://127.0.0.1:1", None) is None
    assert not missing.exists()  # looked at read-only: no empty register made
    assert quick.nothing_to_sync("mysql://localhost/register", "http://127.0.0.1:1", None) is None
