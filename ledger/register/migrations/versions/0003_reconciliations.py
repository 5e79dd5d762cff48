"""reconciliations, and transfers indexed for paging: the result of each `bondledger reconcile`
(instrument, block, time, ok, number of breaks, the report as JSON), so the read-only web page
shows the last one instead of reconciling every instrument against the chain on each request;
a token's transfers indexed in chain order (keyset pages) and by receiving and sending wallet
with the quantity (holders summed from the index alone); these cover the old index on token

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 19:21:20.784819

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('reconciliations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('isin', sa.String(), nullable=False),
    sa.Column('block_number', sa.Integer(), nullable=False),
    sa.Column('reconciled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('breaks', sa.Integer(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reconciliations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reconciliations_isin'), ['isin'], unique=False)

    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transfers_token'))
        batch_op.create_index('ix_transfers_token_chain_order', ['token', 'block_number', 'log_index'], unique=False)
        batch_op.create_index('ix_transfers_token_from', ['token', 'from_address', 'block_number', 'quantity'], unique=False)
        batch_op.create_index('ix_transfers_token_to', ['token', 'to_address', 'block_number', 'quantity'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.drop_index('ix_transfers_token_to')
        batch_op.drop_index('ix_transfers_token_from')
        batch_op.drop_index('ix_transfers_token_chain_order')
        batch_op.create_index(batch_op.f('ix_transfers_token'), ['token'], unique=False)

    with op.batch_alter_table('reconciliations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reconciliations_isin'))

    op.drop_table('reconciliations')
