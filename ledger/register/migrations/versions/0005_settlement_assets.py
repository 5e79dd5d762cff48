"""settlement assets: every cash token with its legal kind (tokenised central bank money,
tokenised deposit, licensed stablecoin with its HKMA licence); an instrument's settlement asset,
Digital Token Identifier and issuer LEI. Cash tokens already deployed are recorded as tokenised
deposits of the platform operator, which is what the platform's own cash tokens are.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 20:10:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('settlement_assets',
    sa.Column('label', sa.String(), nullable=False),
    sa.Column('address', sa.String(), nullable=False),
    sa.Column('currency', sa.String(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('issuer', sa.String(), nullable=True),
    sa.Column('licence', sa.String(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('label'),
    sa.UniqueConstraint('address')
    )
    op.execute(
        "INSERT INTO settlement_assets (label, address, currency, kind, issuer, licence, created_at) "
        "SELECT label, address, label, 'tokenised_deposit', 'the platform operator', NULL, CURRENT_TIMESTAMP "
        "FROM contracts WHERE kind = 'cash'"
    )
    with op.batch_alter_table('instruments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('settlement_asset', sa.String(), nullable=True))
        batch_op.add_column(sa.Column('dti', sa.String(), nullable=True))
        batch_op.add_column(sa.Column('issuer_lei', sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('instruments', schema=None) as batch_op:
        batch_op.drop_column('issuer_lei')
        batch_op.drop_column('dti')
        batch_op.drop_column('settlement_asset')
    op.drop_table('settlement_assets')
