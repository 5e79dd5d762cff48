"""A tranche's terms in the ICMA Bond Data Taxonomy (BDT) shape, as JSON.

The BDT (version 1.2, February 2024) is published as XML Schema files; it has no JSON schema of
its own. This writes the XML document's tree as JSON: each element a key named as the BDT
element (ICMABondDataTaxonomy > Party, PartyRole, Issuance, Product), enumerations spelled as
the BDT's. The element names and enumerations follow descriptions of the v1.2 XSD, not the XSD
files themselves (not at hand here), so the document is not validated against them.

Only what the register knows is written. Fields the BDT requires that a bondledger term sheet
does not hold (Listing, GoverningLaw, SellingRestrictions, ManufacturerTargetMarket, FormOfNote,
StatusOfNote, a BusinessDayCenter for Hong Kong, which the enumeration lacks) are named under
`x-bondledger.not_in_termsheet` rather than guessed. What the BDT has no element for (the green
framework and its document hash, the settlement asset) is under `x-bondledger`.
"""

from issuance.schedule import coupon_schedule
from issuance.termsheet import TermSheet
from ledger.register.db import Register
from ledger.errors import InputError

_FREQUENCY = {0: "NONE", 1: "ANNUALLY", 2: "SEMIANNUALLY", 4: "QUARTERLY"}
_DAY_COUNT = {"ACT/365F": "ACT/365", "ACT/360": "ACT/360", "30/360": "30/360", "ACT/ACT": "ICMA_ACT/ACT"}
_CONVENTION = {"following": "FOLLOWING_UNADJUSTED", "modified_following": "MODIFIED_FOLLOWING_ADJUSTED"}
NOT_IN_TERMSHEET = [
    "Issuance.Listing",
    "Issuance.GoverningLaw",
    "Issuance.SellingRestrictions",
    "Issuance.ManufacturerTargetMarket",
    "Product.FormOfNote",
    "Product.StatusOfNote",
    "Product.BusinessDayCenter",
]


def _amount(value, currency: str) -> dict:
    return {"Amount": str(value), "Currency": currency}


def icma_bdt(register: Register, isin: str) -> dict:
    inst = register.instrument(isin)
    if inst.kind != "bond":
        raise InputError(f"ISIN: {isin} is a {inst.kind}; the Bond Data Taxonomy describes bonds")
    ts = TermSheet.model_validate_json(inst.termsheet)
    bond, ids = ts.bond, ts.identifiers
    periods = coupon_schedule(bond)
    lei = ids.issuer_lei if ids else None
    party = {"PID": f"LEI-{lei}" if lei else "ISSUER", "PartyName": bond.issuer, **({"LEIIdentifier": lei} if lei else {})}
    interest = {
        "InterestType": "ZERO_COUPON" if bond.coupon_frequency == 0 else "FIXED",
        "InterestCommencementDate": bond.issue_date.isoformat(),
    }
    if periods:
        interest["InterestRate"] = str(bond.coupon_rate)  # percent a year
        interest["InterestPayments"] = {
            "InterestPaymentFrequency": _FREQUENCY.get(bond.coupon_frequency, f"EVERY_{12 // bond.coupon_frequency}_MONTHS"),
            # the unadjusted day and month coupons fall on (at most four a year)
            "PayableDate": [
                {"Day": d, "Month": m} for m, d in sorted({(p.accrual_end.month, p.accrual_end.day) for p in periods})[:4]
            ],
            "FirstPayment": {"PaymentDate": periods[0].payment_date.isoformat()},
        }
    issuance = {
        "IssuanceType": "PROGRAMME" if ids and ids.programme else "STANDALONE",
        "SpecifiedDenomination": _amount(bond.denomination, bond.currency),
        "SpecifiedCurrency": bond.currency,
        "PricingDate": ts.terms.pricing_date.isoformat() if ts.terms.pricing_date else None,
        "IssueDate": bond.issue_date.isoformat(),
        "SettlementDate": bond.issue_date.isoformat(),  # primary allocations settle DvP on the issue date
        "IssuePrice": {"Percentage": str(bond.issue_price)},
        "DltPlatformOperationalInformation": {
            "Type": "EVM",
            "Accessibility": "PERMISSIONED",
            "TokenType": "ERC-20",
            "SmartContract": inst.address,
            **({"PlatformIdentifier": {"DTI": ids.dti}} if ids and ids.dti else {}),
        },
    }
    product = {
        "SecurityIdentifierList": {"ISIN": bond.isin, **({"DTI": ids.dti} if ids and ids.dti else {})},
        "AggregateNominalAmount": _amount(bond.issue_size, bond.currency),
        "MaturityDate": bond.maturity_date.isoformat(),
        "InterestPayment": interest,
        "DayCountFraction": _DAY_COUNT[bond.day_count],
        "BusinessDayConvention": _CONVENTION[bond.business_day_convention],
        "DLTBondIndicator": True,
    }
    extension = {
        "termsheet_sha256": inst.termsheet_sha256,
        "calendar": bond.calendar,
        "settlement_asset": ts.settlement_asset,
        "settlement_days": ts.terms.settlement_days,
        "programme": ids.programme if ids else None,
        "not_in_termsheet": NOT_IN_TERMSHEET,
    }
    if ts.green:
        extension["green"] = {
            "framework_uri": ts.green.framework_uri,
            "framework_sha256": ts.green.framework_sha256,
            "use_of_proceeds": list(ts.green.use_of_proceeds),
        }
    if ts.call:
        extension["call"] = {"first_call_date": ts.call.first_call_date.isoformat(), "call_price": str(ts.call.call_price)}
    return {
        "ICMABondDataTaxonomy": {
            "PartyRole": [{"Role": "ISSUER", "PartyID": {"PID": party["PID"]}}],
            "Party": [party],
            "Issuance": issuance,
            "Product": product,
        },
        "x-bondledger": extension,
    }
