"""nonce_allocator: the last settlement nonce handed out, one row incremented in its own
transaction by each `trade`, so that two captures at once never share a nonce (it was
max(nonce) + 1 of the instructions). Starts at the register's largest nonce.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 20:10:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import ledger.register.models

# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('nonce_allocator',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_nonce', ledger.register.models.TokenAmount(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.execute("INSERT INTO nonce_allocator (id, last_nonce) SELECT 1, COALESCE(MAX(nonce), 0) FROM instructions")


def downgrade() -> None:
    op.drop_table('nonce_allocator')
