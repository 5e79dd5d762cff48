// Hardhat's node as a second, independent EVM for tests/integration/test_other_nodes.py: a chain
// id other than anvil's 31337 (so the devnet shortcuts are off and keys must be real), the Cancun
// upgrade, and a clock that starts on the sample bond's issue day. The test funds keys of its
// own with hardhat_setBalance; the default (well-known) accounts are not used.
module.exports = {
  networks: {
    hardhat: {
      chainId: 424242,
      hardfork: "cancun",
      initialDate: "2024-02-07T01:00:00Z",
      accounts: { count: 1 },
    },
  },
};
