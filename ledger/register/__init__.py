"""The off-chain register: its tables (models.py) and schema migrations, the database
(db.py), the indexer that derives every row from chain events (indexer.py, through the one
event map, eventmap.py), finality and statuses, and the queries auditors read (views.py, one
typed row model each in rows.py, keyset paging in paging.py)."""
