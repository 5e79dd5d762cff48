"""The register side of bondledger: chain access, event indexing, the off-chain record,
reconciliation and the reports auditors read. Never imports `issuance`."""
