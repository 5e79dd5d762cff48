"""ERC-3643 (T-REX 4.1.6) deployed from its npm package's compiled artifacts, for benchmarks/gas.py
to measure beside bondledger on the same anvil.

The package (`@tokenysolutions/t-rex`, GPL-3.0, its modules also CC-BY-NC) is a benchmark-only
dev dependency: nothing of it is part of bondledger. It is looked for in the repository's
node_modules, then in $BONDLEDGER_TREX_DIR (the package directory, or an npm prefix holding it).

The suite is deployed as T-REX's own tests do, without the factory's proxies: ONCHAINID
identities with a KYC claim (topic 1) signed by a trusted ClaimIssuer, the claim topics and
trusted issuers registries, the identity registry and its storage, a ModularCompliance and the
Token. A country module (CountryAllowModule, Hong Kong allowed) is added for the second set of
transfers; DVDTransferManager settles the token against a plain ERC-20 as cash.
"""

import json
import os
from pathlib import Path

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_defunct
from web3 import Web3

from ledger.chain import artifacts, keys
from ledger.chain import Chain, Signer

VERSION = "4.1.6"
PACKAGE = Path("@tokenysolutions") / "t-rex"
HONG_KONG = 344  # ISO 3166-1 numeric
KYC_TOPIC = 1
ARTIFACTS = {
    "Token": "contracts/token/Token.sol/Token.json",
    "IdentityRegistry": "contracts/registry/implementation/IdentityRegistry.sol/IdentityRegistry.json",
    "IdentityRegistryStorage": "contracts/registry/implementation/IdentityRegistryStorage.sol/IdentityRegistryStorage.json",
    "ClaimTopicsRegistry": "contracts/registry/implementation/ClaimTopicsRegistry.sol/ClaimTopicsRegistry.json",
    "TrustedIssuersRegistry": "contracts/registry/implementation/TrustedIssuersRegistry.sol/TrustedIssuersRegistry.json",
    "ModularCompliance": "contracts/compliance/modular/ModularCompliance.sol/ModularCompliance.json",
    "CountryAllowModule": "contracts/compliance/modular/modules/CountryAllowModule.sol/CountryAllowModule.json",
    "DVDTransferManager": "contracts/DVD/DVDTransferManager.sol/DVDTransferManager.json",
    "Identity": "@onchain-id/solidity/contracts/Identity.sol/Identity.json",
    "ClaimIssuer": "@onchain-id/solidity/contracts/ClaimIssuer.sol/ClaimIssuer.json",
}


def locate() -> tuple[Path | None, str]:
    """The package's directory, or None and why it was not found."""
    candidates = [artifacts.ROOT / "node_modules" / PACKAGE]
    if os.environ.get("BONDLEDGER_TREX_DIR"):
        given = Path(os.environ["BONDLEDGER_TREX_DIR"])
        candidates += [given, given / "node_modules" / PACKAGE]
    for path in candidates:
        manifest = path / "package.json"
        if manifest.is_file() and json.loads(manifest.read_text()).get("name") == str(PACKAGE):
            version = json.loads(manifest.read_text()).get("version")
            if version != VERSION:
                return None, f"{path} holds T-REX {version}, not {VERSION}"
            return path, ""
    return None, (
        f"@tokenysolutions/t-rex@{VERSION} is not installed (looked in {candidates[0]}"
        + (
            f" and $BONDLEDGER_TREX_DIR={os.environ['BONDLEDGER_TREX_DIR']}"
            if len(candidates) > 1
            else ", $BONDLEDGER_TREX_DIR unset"
        )
        + "); `npm install --no-audit --no-fund` installs it as a dev dependency"
    )


class Suite:
    """One T-REX token and its registries on `chain`, the operator (`op`) owning and agenting all."""

    def __init__(self, chain: Chain, package: Path, op: Signer):
        self.chain, self.op = chain, op
        self.art = {name: json.loads((package / "artifacts" / rel).read_text()) for name, rel in ARTIFACTS.items()}
        self.issuer_key = Account.create()

    def deploy(self, name: str, *args):
        art = self.art[name]
        factory = self.chain.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        address = self.op.transact(factory.constructor(*args), f"deploy T-REX {name}")["contractAddress"]
        return self.chain.w3.eth.contract(address=address, abi=art["abi"])

    def call(self, fn, what: str) -> dict:
        return self.op.transact(fn, what)

    def setup(self) -> None:
        op = self.op.address
        self.claim_issuer = self.deploy("ClaimIssuer", op)
        self.call(self.claim_issuer.functions.addKey(key_hash(self.issuer_key.address), 3, 1), "claim signing key")
        topics = self.deploy("ClaimTopicsRegistry")
        self.call(topics.functions.init(), "init topics")
        self.call(topics.functions.addClaimTopic(KYC_TOPIC), "KYC topic")
        trusted = self.deploy("TrustedIssuersRegistry")
        self.call(trusted.functions.init(), "init trusted issuers")
        self.call(trusted.functions.addTrustedIssuer(self.claim_issuer.address, [KYC_TOPIC]), "trust the claim issuer")
        storage = self.deploy("IdentityRegistryStorage")
        self.call(storage.functions.init(), "init storage")
        self.registry = self.deploy("IdentityRegistry")
        self.call(self.registry.functions.init(trusted.address, topics.address, storage.address), "init registry")
        self.call(storage.functions.bindIdentityRegistry(self.registry.address), "bind storage")
        self.call(self.registry.functions.addAgent(op), "registry agent")
        self.compliance = self.deploy("ModularCompliance")
        self.call(self.compliance.functions.init(), "init compliance")
        self.token = self.deploy("Token")
        self.call(
            self.token.functions.init(self.registry.address, self.compliance.address, "T-REX bond", "TREX", 0, "0x" + "00" * 20),
            "init token",
        )
        self.call(self.token.functions.addAgent(op), "token agent")
        self.call(self.token.functions.unpause(), "unpause")

    def onboard(self, wallet: str) -> None:
        """An ONCHAINID identity for `wallet` with a KYC claim from the trusted issuer, registered."""
        identity = self.deploy("Identity", self.op.address, False)
        data = b"KYC approved"
        digest = Web3.keccak(abi_encode(["address", "uint256", "bytes"], [identity.address, KYC_TOPIC, data]))
        signature = Account.sign_message(encode_defunct(digest), self.issuer_key.key).signature
        self.call(identity.functions.addClaim(KYC_TOPIC, 1, self.claim_issuer.address, signature, data, ""), "KYC claim")
        self.call(self.registry.functions.registerIdentity(wallet, identity.address, HONG_KONG), "register identity")

    def add_country_module(self) -> None:
        module = self.deploy("CountryAllowModule")
        self.call(module.functions.initialize(), "init module")
        self.call(self.compliance.functions.addModule(module.address), "add module")
        allow = module.encode_abi("addAllowedCountry", [HONG_KONG])
        self.call(self.compliance.functions.callModuleFunction(allow, module.address), "allow Hong Kong")


def key_hash(address: str) -> bytes:
    """ONCHAINID's key for an address: keccak256(abi.encode(address))."""
    return Web3.keccak(abi_encode(["address"], [address]))


def measure(chain: Chain, package: Path, plain_art, op: Signer) -> dict:
    """T-REX's gas: compliant transfer (new / existing holder) without and with a country module,
    mint, and a DVD settlement of the token against a plain ERC-20 (initiate and take); `op`
    deploys and owns everything."""
    suite = Suite(chain, package, op)
    suite.setup()
    alice, bob = keys.dev_account(8), keys.dev_account(9)
    carol, dave = Account.create().address, Account.create().address
    for wallet in (alice.address, bob.address, carol, dave):
        suite.onboard(wallet)
    token = suite.token
    suite.call(token.functions.mint(alice.address, 1_000), "mint")
    f = {"trex_mint_existing_holder": suite.call(token.functions.mint(alice.address, 1_000), "mint")["gasUsed"]}
    holder = Signer(chain, alice)
    holder.transact(token.functions.transfer(bob.address, 1), "make bob a holder")
    f["trex_new_holder"] = holder.transact(token.functions.transfer(carol, 1), "transfer")["gasUsed"]
    f["trex_existing_holder"] = holder.transact(token.functions.transfer(bob.address, 1), "transfer")["gasUsed"]
    suite.add_country_module()
    f["trex_country_new_holder"] = holder.transact(token.functions.transfer(dave, 1), "transfer")["gasUsed"]
    f["trex_country_existing_holder"] = holder.transact(token.functions.transfer(bob.address, 1), "transfer")["gasUsed"]

    # DVD: alice delivers tokens, bob pays in a plain ERC-20 he holds
    dvd = suite.deploy("DVDTransferManager")
    factory = chain.w3.eth.contract(abi=plain_art.abi, bytecode=plain_art.bytecode)
    cash = chain.w3.eth.contract(
        address=op.transact(factory.constructor(bob.address, 10**12), "deploy cash")["contractAddress"], abi=plain_art.abi
    )
    payer = Signer(chain, bob)
    payer.transact(cash.functions.approve(dvd.address, 10**12), "approve cash")
    holder.transact(token.functions.approve(dvd.address, 10**6), "approve tokens")
    for n in ("first", "repeat"):
        receipt = holder.transact(
            dvd.functions.initiateDVDTransfer(token.address, 10, bob.address, cash.address, 995), "initiate DVD"
        )
        transfer_id = dvd.events.DVDTransferInitiated().process_receipt(receipt)[0]["args"]["transferID"]
        f[f"trex_dvd_initiate_{n}"] = receipt["gasUsed"]
        f[f"trex_dvd_take_{n}"] = payer.transact(dvd.functions.takeDVDTransfer(transfer_id), "take DVD")["gasUsed"]
    return f
