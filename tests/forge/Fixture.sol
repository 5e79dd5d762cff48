// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Base} from "./Base.sol";
import {InvestorRegistry} from "../../contracts/InvestorRegistry.sol";
import {IInvestorRegistry} from "../../contracts/interfaces/IInvestorRegistry.sol";
import {SecurityToken} from "../../contracts/SecurityToken.sol";
import {BondToken} from "../../contracts/BondToken.sol";
import {CashToken} from "../../contracts/CashToken.sol";
import {DvPSettlement} from "../../contracts/DvPSettlement.sol";

/// @dev A deployed world: registry, HKD cash, a DvP venue and a professional-only green bond
/// open to HK and SG investors, with investors of every kind the rules tell apart.
abstract contract Fixture is Base {
    uint8 internal constant RETAIL = 1;
    uint8 internal constant PROFESSIONAL = 2;
    uint8 internal constant INSTITUTIONAL = 4;
    uint8 internal constant PROFESSIONAL_MASK = (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5);

    uint256 internal constant DENOMINATION = 50_000_00; // HK$50,000 in cents
    uint256 internal constant ISSUE_VOLUME = 2_000_000_000_00; // HK$2bn in cents
    uint256 internal constant ISSUE_DATE = 1_707_264_000; // 2024-02-07
    uint256 internal constant MATURITY_DATE = 1_770_422_400; // 2026-02-07
    uint40 internal constant KYC_EXPIRY = 1_798_761_600; // 2027-01-01
    // sha256("framework"), written out: computing it is a call (to a precompile), which would be
    // the call a test's expectRevert meets before the bond's deployment.
    bytes32 internal constant FRAMEWORK_SHA256 = 0x06a61df042ad775e8bdd27666ac077a3331e5eb3215d0351ba292bce7e96505b;

    address internal issuer = address(0x1551);
    address internal alice = address(0xA11CE); // HK institutional
    address internal alice2 = address(0xA11CE2); // alice's second wallet
    address internal bob = address(0xB0B); // SG professional
    address internal carol = address(0xCA201); // HK retail
    address internal dave = address(0xDA5E); // US institutional
    address internal mallory = address(0x3A11); // not registered

    InvestorRegistry internal registry;
    CashToken internal hkd;
    DvPSettlement internal dvp;
    BondToken internal bond;

    function setUp() public virtual {
        vm.warp(ISSUE_DATE);
        registry = new InvestorRegistry(address(this));
        hkd = new CashToken("HKD", "Tokenized HKD", address(this));
        dvp = new DvPSettlement(address(this));
        bond = deployBond(address(this));
        dvp.setListed(address(bond), true);
        dvp.setCashListed(address(hkd), true);

        register(alice, "alice", "HK", INSTITUTIONAL);
        registry.addWallet(keccak256("alice"), alice2);
        register(bob, "bob", "SG", PROFESSIONAL);
        register(carol, "carol", "HK", RETAIL);
        register(dave, "dave", "US", INSTITUTIONAL);
        register(issuer, "issuer", "HK", INSTITUTIONAL);
    }

    /// The fixture's green bond, administered by `admin`: no paying agent, no record times.
    function deployBond(address admin) internal returns (BondToken) {
        return deployBond(admin, new uint64[](0), MATURITY_DATE, address(0));
    }

    /// The fixture's green bond with coupon record times, a maturity and a paying agent of the
    /// caller's choosing.
    function deployBond(address admin, uint64[] memory recordTimes, uint256 maturity, address payingAgent)
        internal
        returns (BondToken)
    {
        bytes2[] memory countries = new bytes2[](2);
        countries[0] = "HK";
        countries[1] = "SG";
        string[] memory uses = new string[](2);
        uses[0] = "clean_transportation";
        uses[1] = "renewable_energy";
        return new BondToken(
            SecurityToken.TokenConfig({
                name: "HKSAR Green Bond 2026",
                symbol: "HKGB26",
                admin: admin,
                registry: IInvestorRegistry(address(registry)),
                currency: address(hkd),
                treasury: issuer,
                settlement: address(dvp),
                payingAgent: payingAgent,
                categoryMask: PROFESSIONAL_MASK,
                allowedJurisdictions: countries,
                recordTimes: recordTimes
            }),
            BondToken.BondTerms({
                isin: "HK0000987654",
                denomination: DENOMINATION,
                issueVolume: ISSUE_VOLUME,
                couponRate: 38_000,
                couponType: 1,
                couponFrequency: 2,
                issueDate: ISSUE_DATE,
                maturityDate: maturity,
                dayCountBasis: 3
            }),
            BondToken.GreenTerms({
                frameworkUri: "https://example.org/green-bond-framework.pdf",
                frameworkSha256: FRAMEWORK_SHA256,
                useOfProceeds: uses
            })
        );
    }

    function register(address wallet, string memory id, bytes2 country, uint8 category) internal {
        bytes32 investorId = keccak256(bytes(id));
        registry.setInvestor(investorId, country, category, KYC_EXPIRY);
        registry.addWallet(investorId, wallet);
    }
}
