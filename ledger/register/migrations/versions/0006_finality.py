"""finality: the checkpoint records the chain's finalized height (and its block hash) and the
head it was read at; rows above the finalized height are provisional (ledger/register/finality.py); the
hash of every indexed block above it, to find the common ancestor after a reorganisation.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 02:45:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('provisional_blocks',
    sa.Column('number', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('number')
    )
    with op.batch_alter_table('checkpoint', schema=None) as batch_op:
        batch_op.add_column(sa.Column('finalized_block', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('finalized_hash', sa.String(), nullable=True))
        batch_op.add_column(sa.Column('head_block', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('checkpoint', schema=None) as batch_op:
        batch_op.drop_column('head_block')
        batch_op.drop_column('finalized_hash')
        batch_op.drop_column('finalized_block')
    op.drop_table('provisional_blocks')
