"""The codec's fast paths are eth-abi's answers exactly: call data of every function of every
contract on random values (and the settlement batch), results, revert data and event logs,
each compared with eth_abi.encode / eth_abi.decode. Values are drawn at random from seeded
generators (hypothesis-style, without the dependency), with the edges of every range."""

import os
import random

import eth_abi
import pytest
from eth_abi.exceptions import DecodingError, EncodingError
from eth_abi.grammar import BasicType, TupleType, parse
from eth_account import Account
from eth_utils import event_abi_to_log_topic, function_signature_to_4byte_selector, to_checksum_address

from ledger.chain import addresses as addresses_module
from ledger.chain import artifacts, codec
from ledger.instructions import InstructionData, settle_batch_calldata

SEEDS = range(40)


def random_value(rng: random.Random, t: str):
    """A random valid value of ABI type `t`, edges included."""
    return _value(rng, parse(t))


def _value(rng: random.Random, typ):
    if typ.is_array:
        size = typ.arrlist[-1]
        n = size[0] if size else rng.choice([0, 1, 2, rng.randrange(0, 12)])
        return [_value(rng, typ.item_type) for _ in range(n)]
    if isinstance(typ, TupleType):
        return tuple(_value(rng, c) for c in typ.components)
    assert isinstance(typ, BasicType)
    base, sub = typ.base, typ.sub
    if base == "uint":
        return rng.choice([0, 1, 2**sub - 1, rng.randrange(2**sub), rng.randrange(2 ** min(sub, 64))])
    if base == "int":
        return rng.choice([0, -1, 2 ** (sub - 1) - 1, -(2 ** (sub - 1)), rng.randrange(-(2 ** (sub - 1)), 2 ** (sub - 1))])
    if base == "address":
        raw = "0x" + rng.randbytes(20).hex()
        return rng.choice([raw, raw.lower(), "0x" + raw[2:].upper(), to_checksum_address(raw), "0x" + "00" * 20])
    if base == "bool":
        return rng.random() < 0.5
    if base == "bytes" and sub:
        return rng.randbytes(rng.choice([sub, sub, rng.randrange(0, sub + 1)]))
    if base == "bytes":
        return rng.randbytes(rng.choice([0, 1, 31, 32, 33, 65, rng.randrange(0, 200)]))
    if base == "string":
        return rng.choice(["", "HK", "é€ 債券", "x" * rng.randrange(0, 100)])
    raise AssertionError(f"no generator for {base}")


def all_functions():
    seen = set()
    for name, art in sorted(artifacts.load_all().items()):
        for item in art.abi:
            if item["type"] == "function" and (name, item["name"]) not in seen:
                seen.add((name, item["name"]))
                yield name, item


def test_call_data_of_every_function_is_eth_abis_on_random_values():
    checked = 0
    for artifact, item in all_functions():
        fn = codec.function(artifact, item["name"])
        for seed in SEEDS:
            rng = random.Random(f"{artifact}.{item['name']}.{seed}")
            args = [random_value(rng, t) for t in fn.inputs]
            expected = "0x" + (fn.selector + eth_abi.encode(fn.inputs, args)).hex()
            assert codec.calldata(artifact, item["name"], args) == expected, (artifact, item["name"], args)
            checked += 1
    assert checked > 1000


@pytest.mark.parametrize(
    "types",
    [
        ["uint8", "int256", "int24", "bool", "bytes1", "bytes32", "address"],
        ["bytes", "string", "bytes[]", "string[]"],
        ["(uint256,bytes)[]", "(address,(bool,string)[])", "uint64[3]", "bytes[2]", "(uint8,bytes2)[2][]"],
        ["(address,address,address,uint256,address,uint256,uint64,uint64,uint64,uint256)[]", "bytes[]", "bytes[]", "bool"],
    ],
)
def test_the_fast_encoder_is_eth_abis_on_shapes_no_contract_has_yet(types):
    for seed in range(200):
        rng = random.Random(seed)
        values = [random_value(rng, t) for t in types]
        assert codec.encode(types, values) == eth_abi.encode(types, values), values


def test_the_settlement_batch_is_eth_abis():
    rng = random.Random(7)
    parties = [Account.create().address for _ in range(6)]
    for n in (0, 1, 2, 50):
        ins = [
            InstructionData(*(rng.choice(parties) for _ in range(3)), rng.randrange(2**256), rng.choice(parties), rng.randrange(2**256),
                            rng.randrange(2**64), rng.randrange(2**64), rng.randrange(2**64), rng.randrange(2**256))
            for _ in range(n)
        ]  # fmt: skip
        sellers = [rng.randbytes(rng.choice([65, 64, 0, 97])) for _ in ins]
        buyers = [rng.randbytes(65) for _ in ins]
        types = ["(address,address,address,uint256,address,uint256,uint64,uint64,uint64,uint256)[]", "bytes[]", "bytes[]", "bool"]
        selector = function_signature_to_4byte_selector(f"settleBatch({','.join(types)})")
        expected = selector + eth_abi.encode(types, [[i.as_tuple() for i in ins], sellers, buyers, n % 2 == 0])
        assert settle_batch_calldata(ins, sellers, buyers, n % 2 == 0) == "0x" + expected.hex()


@pytest.mark.parametrize(
    "types, values",
    [
        (["address"], ["0x" + "zz" * 20]),
        (["uint8"], [256]),
        (["uint256"], [-1]),
        (["int8"], [128]),
        (["bool"], [1]),
        (["bytes2"], [b"abc"]),
        (["bytes"], ["0x00"]),
        (["(uint256,bool)"], [(1,)]),
    ],
)
def test_what_eth_abi_refuses_the_codec_refuses(types, values):
    with pytest.raises(EncodingError):
        eth_abi.encode(types, values)
    with pytest.raises(EncodingError):
        codec.encode(types, values)


def test_values_outside_the_fast_subset_go_to_eth_abi():
    # bytes addresses, an IntEnum, a fixed-point type: eth-abi's encodings, not the fast path's
    wrong_case = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"  # eth-abi checks no EIP-55 checksum either
    assert codec.encode(["address"], [wrong_case]) == eth_abi.encode(["address"], [wrong_case])
    address = os.urandom(20)
    assert codec.encode(["address"], [address]) == eth_abi.encode(["address"], [address])
    assert codec.encode(["fixed128x18", "uint8"], [0, 3]) == eth_abi.encode(["fixed128x18", "uint8"], [0, 3])


def test_results_decode_as_eth_abi_with_structs_by_name():
    rng = random.Random(3)
    for artifact, item in all_functions():
        fn = codec.function(artifact, item["name"])
        if not fn.outputs:
            continue
        for _ in range(10):
            values = [random_value(rng, t) for t in fn.outputs]
            result = "0x" + eth_abi.encode(fn.outputs, values).hex()
            expected = eth_abi.decode(fn.outputs, bytes.fromhex(result[2:]))
            decoded = codec.decode_result(artifact, item["name"], result)
            assert (decoded,) == tuple(expected) if len(fn.outputs) == 1 else tuple(decoded) == tuple(expected)
    Payment = codec.struct("PayingAgent.Payment")
    assert Payment._fields == ("amountPerToken", "paymentTime", "paidQuantity", "paidAmount", "declared", "complete")
    encoded = "0x" + eth_abi.encode(["(uint256,uint256,uint256,uint256,bool,bool)"], [(5, 6, 7, 8, True, False)]).hex()
    payment = codec.decode_result("PayingAgent", "coupon", encoded)
    assert type(payment) is Payment and payment.paidAmount == 8 and payment.declared and not payment.complete
    nav = codec.decode_result("FundToken", "nav", "0x" + eth_abi.encode(["uint256", "uint256"], [1, 2]).hex())
    assert (nav.navPerUnit, nav.publishedAt) == (1, 2)


def test_results_eth_abi_refuses_are_refused_by_the_fast_path_too():
    word = (1 << 160 | 5).to_bytes(32, "big").hex()  # an address with a dirty high byte
    for artifact, fn, result in [
        ("AgentModule", "currency", "0x" + word),
        ("InvestorRegistry", "hasRole", "0x" + (2).to_bytes(32, "big").hex()),  # a bool of 2
        ("InvestorRegistry", "investor", "0x" + "00" * 64),  # a struct of three words, two given
        ("InvestorRegistry", "walletsOf", "0x" + (32).to_bytes(32, "big").hex() + (3).to_bytes(32, "big").hex()),
        ("InvestorRegistry", "walletsOf", "0x" + (64).to_bytes(32, "big").hex()),  # an offset past the data
    ]:
        with pytest.raises(DecodingError):
            codec.decode_result(artifact, fn, result)


def test_structs_are_the_abis_components():
    for artifact, item in all_functions():
        for arg in item["inputs"] + item["outputs"]:
            internal = arg.get("internalType", "")
            if internal.startswith("struct "):
                kind = codec.struct(internal[7:].split("[")[0])
                assert kind._fields == tuple(c["name"] for c in arg["components"])
    with pytest.raises(KeyError):
        codec.struct("PayingAgent.NoSuchStruct")


def test_revert_data_decodes_by_name():
    data = "0x" + (function_signature_to_4byte_selector("SettlementRefused(bytes32,uint8,uint8)")
                   + eth_abi.encode(["bytes32", "uint8", "uint8"], [b"\1" * 32, 2, 9])).hex()  # fmt: skip
    assert codec.decode_error(data) == ("SettlementRefused", {"instructionId": b"\1" * 32, "reason": 2, "tokenReason": 9})
    assert codec.describe_revert(data).startswith("SettlementRefused(instructionId=0x0101")
    assert (
        codec.decode_error("0xdeadbeef") is None
        and codec.describe_revert("0xdeadbeef") == "reverted with unknown error 0xdeadbeef"
    )
    assert codec.describe_revert(None) == "reverted without a reason"


def test_every_event_decodes_as_eth_abi():
    checked = 0
    for kind, artifact in codec.KIND_ARTIFACT.items():
        for e in artifacts.load(artifact).abi:
            if e["type"] != "event" or e.get("anonymous"):
                continue
            for seed in range(20):
                rng = random.Random(f"{artifact}.{e['name']}.{seed}")
                indexed = [i for i in e["inputs"] if i["indexed"]]
                data = [i for i in e["inputs"] if not i["indexed"]]
                values = {i["name"]: random_value(rng, codec.abi_type(i)) for i in e["inputs"]}
                topics = ["0x" + event_abi_to_log_topic(e).hex()]
                topics += ["0x" + eth_abi.encode([i["type"]], [values[i["name"]]]).hex() for i in indexed]
                log = {
                    "topics": topics,
                    "data": "0x" + eth_abi.encode([codec.abi_type(i) for i in data], [values[i["name"]] for i in data]).hex(),
                }
                name, args = codec.decode_event(kind, log)
                assert name == e["name"]
                for i in e["inputs"]:
                    assert args[i["name"]] == _as_register_keeps(values[i["name"]], codec.abi_type(i)), (e["name"], i["name"])
                checked += 1
    assert checked > 100


def _as_register_keeps(value, t: str):
    if t == "address":
        return to_checksum_address(value)
    if t.startswith("bytes") and isinstance(value, bytes):
        return "0x" + value.hex() + ("00" * (int(t[5:]) - len(value)) if t != "bytes" and "[" not in t else "")
    if isinstance(value, list):
        return [_as_register_keeps(v, t[: t.rindex("[")]) for v in value]
    return value


def test_fast_checksum_equals_eth_utils_on_random_and_edge_addresses():
    addresses = ["0x" + os.urandom(20).hex() for _ in range(2_000)]
    addresses += ["0x" + "00" * 20, "0x" + "ff" * 20, "0x" + "AB" * 20, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".lower()]
    for address in addresses:
        addresses_module._mixed_case.cache_clear()
        assert codec.checksum(address) == to_checksum_address(address)
        assert codec.checksum("0x" + address[2:].upper()) == to_checksum_address(address)  # cached by the lower case


def test_the_signed_instruction_type_is_the_venues_struct():
    # EIP-712 needs the type spelled out (its hash is in the contract); it must be the ABI's struct
    from ledger.instructions import INSTRUCTION_FIELDS

    item = codec._struct_abis()["DvPSettlement.Instruction"]
    assert INSTRUCTION_FIELDS == [(c["name"], c["type"]) for c in item["components"]]
    assert codec.struct("DvPSettlement.Instruction")._fields == tuple(InstructionData.__dataclass_fields__)


def test_a_returned_bytes_array_reads_as_eth_abi_decodes_it():
    rng = random.Random(7)
    for count in (0, 1, 3, 50):
        items = [os.urandom(rng.choice((0, 1, 31, 32, 33, 96, 100))) for _ in range(count)]
        data = eth_abi.encode(["bytes[]"], [items])
        assert codec.decode_bytes_array(data) == list(eth_abi.decode(["bytes[]"], data)[0]) == items
