"""The ABI codec: every encoding and decoding between Python values and the contracts' ABI.

Call data (`calldata`), call results (`decode_result`, with Solidity structs as named tuples:
`struct`), revert data (`describe_revert`) and event logs (`decode_log`), all read from the
compiled ABIs (ledger/chain/artifacts.py), so a changed signature or struct changes here and nowhere
else. Built on eth-abi, with fast paths where eth-abi's validation layers were measured to cost
more than the work around them (a batch of hundreds of settlement instructions, thousands of
reads, a sync of many events); tests/unit/test_codec.py holds every fast path byte-equal to
eth-abi on random values. A value outside a fast path's subset is handed to eth-abi, which
encodes it or refuses it with its own error.
"""

from collections import namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.grammar import BasicType, TupleType, parse
from eth_utils import event_abi_to_log_topic, function_signature_to_4byte_selector

from ledger.chain import artifacts
from ledger.chain.addresses import checksum  # noqa: F401 (one EIP-55, light enough for the CLI's input parsing)
from ledger.codes import Reason
from ledger.errors import ChainError

#: contract kind (as the register follows it) -> the artifact whose ABI decodes its events
KIND_ARTIFACT = {
    "registry": "InvestorRegistry",
    "dvp": "DvPSettlement",
    "cash": "CashToken",
    "bond": "BondToken",
    "fund": "FundToken",
    "paying_agent": "PayingAgent",
}


def abi_type(item: dict) -> str:
    """The canonical type of an ABI input or output: tuples spelled out, `(address,uint256)[]`."""
    if item["type"].startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in item["components"]) + ")" + item["type"][5:]
    return item["type"]


# ---------------------------------------------------------------------- structs by name


def _struct_name(item: dict) -> str | None:
    """`PayingAgent.Payment` for a component whose internalType is `struct PayingAgent.Payment[]`."""
    internal = item.get("internalType", "")
    return internal[len("struct ") :].split("[")[0] if internal.startswith("struct ") else None


@cache
def _struct_type(qualified: str, fields: tuple[str, ...]) -> type:
    return namedtuple(qualified.rsplit(".", 1)[-1], fields, rename=True)


@cache
def _struct_abis() -> dict[str, dict]:
    """Every struct any ABI names -> one ABI item of that type (with its components)."""
    found: dict[str, dict] = {}

    def visit(item: dict) -> None:
        name = _struct_name(item)
        if name is not None:
            found.setdefault(name, item)
        for c in item.get("components", ()):
            visit(c)

    for art in artifacts.load_all().values():
        for entry in art.abi:
            for item in entry.get("inputs", []) + entry.get("outputs", []):
                visit(item)
    return found


def struct(name: str) -> type:
    """The named tuple of a Solidity struct, its fields in the ABI's order: `struct("PayingAgent.Payment")`.
    Being a tuple, the codec encodes it as is where the struct is an argument (`calldata`,
    `init_code`; web3's contract functions rebuild tuples by their type and need `tuple(value)`),
    and results of that type decode to it (`decode_result`, `read_many`): callers use field names,
    never positions."""
    try:
        item = _struct_abis()[name]
    except KeyError:
        raise KeyError(f"no ABI has a struct {name}") from None
    return _struct_type(name, tuple(c["name"] for c in item["components"]))


def _namer(item: dict) -> Callable | None:
    """A function turning eth-abi's decoded value of `item` into named tuples where it has structs; None if nothing to name."""
    if not item["type"].startswith("tuple"):
        return None
    inner = [_namer(c) for c in item["components"]]
    kind = _struct_type(_struct_name(item) or "Result", tuple(c["name"] for c in item["components"]))

    def one(value):
        return kind(*(f(v) if f else v for f, v in zip(inner, value)))

    if item["type"] == "tuple":
        return one
    depth = item["type"].count("[")

    def many(value, level=depth):
        return [one(v) if level == 1 else many(v, level - 1) for v in value]

    return many


# ---------------------------------------------------------------------- functions: call data and results


@dataclass(frozen=True)
class Function:
    name: str
    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    shape: Callable | None  # names the decoded result (structs, several named outputs); None: as eth-abi gives it


def _abi_function(artifact: str, name: str) -> dict:
    for item in artifacts.load(artifact).abi:
        if item["type"] == "function" and item["name"] == name:
            return item
    raise KeyError(f"{artifact} has no function {name}")


@cache
def function(artifact: str, name: str) -> Function:
    """A contract function's selector and types, from its artifact's ABI (the first of that name)."""
    item = _abi_function(artifact, name)
    inputs = tuple(abi_type(i) for i in item["inputs"])
    outputs = tuple(abi_type(o) for o in item["outputs"])
    selector = function_signature_to_4byte_selector(f"{name}({','.join(inputs)})")
    outs = item["outputs"]
    if len(outs) == 1:
        shape = _namer(outs[0])
    elif outs and all(o["name"] for o in outs):
        # several named outputs, e.g. `nav() returns (uint256 navPerUnit, uint256 publishedAt)`
        shape = _namer({"type": "tuple", "components": outs, "internalType": f"struct {artifact}.{name}"})
    else:
        shape = None
    return Function(name, selector, inputs, outputs, shape)


def calldata(artifact: str, name: str, args: Sequence) -> str:
    """ABI-encoded call data of `artifact.name(*args)`, as a 0x string. Straight through the codec,
    not web3's contract layer, which formats every value recursively: seconds on a batch of a
    hundred settlement instructions."""
    fn = function(artifact, name)
    return "0x" + (fn.selector + encode(fn.inputs, args)).hex()


@cache
def constructor_inputs(artifact: str) -> tuple[str, ...]:
    for item in artifacts.load(artifact).abi:
        if item["type"] == "constructor":
            return tuple(abi_type(i) for i in item["inputs"])
    return ()


def init_code(artifact: str, args: Sequence) -> str:
    """A contract's creation code with its constructor arguments appended (0x hex): what a deployment sends."""
    code = artifacts.load(artifact).bytecode
    return (code if code.startswith("0x") else "0x" + code) + encode(constructor_inputs(artifact), args).hex()


def decode_result(artifact: str, name: str, result: str):
    """One call's return value (the 0x hex an eth_call answers): a function returning one value
    gives that value, else a tuple (named when the outputs are); structs decode to `struct` types."""
    fn = function(artifact, name)
    types = fn.outputs
    if types and result in ("0x", ""):  # eth-abi would say "Tried to read 32 bytes": name the call instead
        raise ChainError(f"{artifact}.{name}: the node answered no data (no such contract at that block?)")
    data = bytes.fromhex(result[2:])
    fast = _decoder(types)
    try:
        values = fast(data) if fast else abi_decode(types, data)
    except _Slow:  # short, or a word eth-abi would refuse (non-zero padding): it raises the error
        values = abi_decode(types, data)
    if len(values) == 1:
        return fn.shape(values[0]) if fn.shape else values[0]
    return fn.shape(values) if fn.shape else values


def _word(t: str) -> Callable[[bytes], object] | None:
    """A decoder of one 32-byte word of type `t` as eth-abi gives it (raising _Slow where eth-abi
    would refuse it), or None for a type outside the fast subset."""
    if t == "address":
        return lambda w: _fail() if any(w[:12]) or len(w) < 32 else "0x" + w[12:].hex()  # lower case, as eth-abi
    if t == "bool":
        return lambda w: _fail() if len(w) < 32 or int.from_bytes(w, "big") > 1 else w[31] == 1
    if t.startswith("uint") and t[4:].isdigit():
        bits = int(t[4:])
        return lambda w: _fail() if len(w) < 32 or int.from_bytes(w, "big") >> bits else int.from_bytes(w, "big")
    if t.startswith("bytes") and t[5:].isdigit() and 0 < int(t[5:]) <= 32:
        n = int(t[5:])
        return lambda w: _fail() if len(w) < 32 or any(w[n:]) else w[:n]
    return None


def _fail():
    raise _Slow


@cache
def _decoder(types: tuple[str, ...]) -> Callable[[bytes], tuple] | None:
    """Results made of words, structs of words and dynamic arrays of words (a registry record, a
    wallet list) decoded by slicing: eth-abi's decoder costs tens of microseconds a value, which
    reads of thousands pay. None for any other result: eth-abi decodes it."""
    heads = []  # per output: (kind, its word decoders)
    for t in types:
        if t.endswith("[]") and _word(t[:-2]):
            heads.append(("array", _word(t[:-2])))
        elif t.startswith("(") and t.endswith(")") and all(_word(c) for c in t[1:-1].split(",")):
            heads.append(("tuple", [_word(c) for c in t[1:-1].split(",")]))
        elif _word(t):
            heads.append(("word", _word(t)))
        else:
            return None

    def decode(data: bytes) -> tuple:
        values, at = [], 0
        for kind, dec in heads:
            if kind == "word":
                values.append(dec(data[at : at + 32]))
                at += 32
            elif kind == "tuple":
                values.append(tuple(d(data[at + 32 * k : at + 32 * k + 32]) for k, d in enumerate(dec)))
                at += 32 * len(dec)
            else:
                start = int.from_bytes(data[at : at + 32], "big") + 32
                count = int.from_bytes(data[start - 32 : start], "big")
                if len(data) < max(at + 32, start + 32 * count):  # short, or a pointer past the data
                    raise _Slow
                values.append(tuple(dec(data[start + 32 * k : start + 32 * k + 32]) for k in range(count)))
                at += 32
        return tuple(values)

    return decode


# ---------------------------------------------------------------------- the fast encoder


class _Slow(Exception):
    """A value outside the fast encoder's (or decoder's) subset: eth-abi takes it (or refuses it)."""


def encode(types: Sequence[str], values: Sequence) -> bytes:
    """`eth_abi.encode(types, values)`, byte for byte, without eth-abi's per-value validation layers
    (about half a millisecond a call, and tens of milliseconds for a batch): integers, booleans,
    addresses, fixed and dynamic bytes, strings, tuples and arrays of them. Anything else, or any
    value out of its type's range, goes to eth-abi."""
    try:
        return _arguments(tuple(types))(values)
    except _Slow:
        return abi_encode(types, values)


@cache
def _arguments(types: tuple[str, ...]) -> Callable:
    """The encoder of a function's arguments: a tuple of `types`."""
    return _sequence([_compile(parse(t)) for t in types])


def _sequence(parts: list[tuple[bool, Callable]]) -> Callable:
    """An encoder of a fixed run of values (a tuple's components): the heads (static values, or
    offsets of dynamic ones), then the tails."""
    n = len(parts)
    encoders = [enc for _, enc in parts]
    if not any(dynamic for dynamic, _ in parts):

        def static(v):
            if not isinstance(v, (list, tuple)) or len(v) != n:
                raise _Slow
            return b"".join([enc(x) for enc, x in zip(encoders, v)])

        return static
    flags = [dynamic for dynamic, _ in parts]

    def mixed(v):
        if not isinstance(v, (list, tuple)) or len(v) != n:
            raise _Slow
        return _heads_and_tails(flags, [enc(x) for enc, x in zip(encoders, v)])

    return mixed


def _heads_and_tails(flags: Sequence[bool], encoded: list[bytes]) -> bytes:
    offset = sum(32 if dynamic else len(e) for dynamic, e in zip(flags, encoded))
    heads, tails = [], []
    for dynamic, e in zip(flags, encoded):
        if dynamic:
            heads.append(offset.to_bytes(32, "big"))
            tails.append(e)
            offset += len(e)
        else:
            heads.append(e)
    return b"".join(heads) + b"".join(tails)


def _compile(typ) -> tuple[bool, Callable]:
    """(whether the type is dynamic, a function encoding one value of it or raising _Slow)."""
    if typ.is_array:
        item_dynamic, item = _compile(typ.item_type)
        size = typ.arrlist[-1]
        if size:  # T[k]: k values inline, dynamic if T is
            return item_dynamic, _sequence([(item_dynamic, item)] * size[0])

        def array(v):
            if not isinstance(v, (list, tuple)):
                raise _Slow
            encoded = [item(x) for x in v]
            body = _heads_and_tails([True] * len(v), encoded) if item_dynamic else b"".join(encoded)
            return len(v).to_bytes(32, "big") + body

        return True, array
    if isinstance(typ, TupleType):
        parts = [_compile(c) for c in typ.components]
        return any(dynamic for dynamic, _ in parts), _sequence(parts)
    assert isinstance(typ, BasicType)
    return _basic(typ.base, typ.sub)


def _basic(base: str, sub) -> tuple[bool, Callable]:
    if base == "uint":
        limit = 1 << sub

        def uint(v):
            if type(v) is not int or not 0 <= v < limit:
                raise _Slow
            return v.to_bytes(32, "big")

        return False, uint
    if base == "int":
        low, high = -(1 << (sub - 1)), 1 << (sub - 1)

        def int_(v):
            if type(v) is not int or not low <= v < high:
                raise _Slow
            return v.to_bytes(32, "big", signed=True)

        return False, int_
    if base == "address":
        return False, _address
    if base == "bool":

        def bool_(v):
            if type(v) is not bool:
                raise _Slow
            return b"\0" * 31 + (b"\1" if v else b"\0")

        return False, bool_
    if base == "bytes" and sub:  # bytesN: at most N bytes, padded right as eth-abi does
        size = sub

        def fixed_bytes(v):
            if not isinstance(v, (bytes, bytearray)) or len(v) > size:
                raise _Slow
            return bytes(v) + bytes(32 - len(v))

        return False, fixed_bytes
    if base == "bytes":
        return True, _dynamic_bytes
    if base == "string":

        def string(v):
            if not isinstance(v, str):
                raise _Slow
            return _dynamic_bytes(v.encode("utf-8"))

        return True, string

    def slow(v):  # fixed-point numbers and anything rarer
        raise _Slow

    return False, slow


_ADDRESS_WORDS: dict[str, bytes] = {}  # address text -> its ABI word, once validated: a batch repeats its parties


def _address(v) -> bytes:
    found = _ADDRESS_WORDS.get(v) if type(v) is str else None
    if found is not None:
        return found
    if not (isinstance(v, str) and len(v) == 42 and v[:2] == "0x"):
        raise _Slow
    digits = v[2:]  # eth-abi checks no EIP-55 checksum either: inputs are checked at the edge (issuance.inputs)
    try:
        encoded = bytes(12) + bytes.fromhex(digits)
    except ValueError:
        raise _Slow from None
    if len(encoded) != 32:  # fromhex skips spaces
        raise _Slow
    if len(_ADDRESS_WORDS) >= 65_536:
        _ADDRESS_WORDS.clear()
    _ADDRESS_WORDS[v] = encoded
    return encoded


def _dynamic_bytes(v) -> bytes:
    if not isinstance(v, (bytes, bytearray)):
        raise _Slow
    return len(v).to_bytes(32, "big") + bytes(v) + bytes(-len(v) % 32)


# ---------------------------------------------------------------------- revert data


@cache
def _error_table() -> dict[bytes, tuple[str, list[str], list[str]]]:
    """selector -> (error name, argument types, argument names), over every artifact's custom errors."""
    table = {}
    for art in artifacts.load_all().values():
        for item in art.abi:
            if item["type"] == "error":
                types = [abi_type(i) for i in item["inputs"]]
                selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
                table[selector] = (item["name"], types, [i["name"] for i in item["inputs"]])
    table[bytes.fromhex("08c379a0")] = ("Error", ["string"], ["message"])
    table[bytes.fromhex("4e487b71")] = ("Panic", ["uint256"], ["code"])
    return table


def _raw(data: str | bytes) -> bytes:
    if isinstance(data, str):
        return bytes.fromhex(data[2:] if data[:2] in ("0x", "0X") else data)
    return bytes(data)


def _decode_error(data: str | bytes) -> tuple[str, list[str], list[str], tuple | None] | None:
    """(error name, argument types, argument names, values or None if they do not decode), or
    None for revert data of no error any ABI declares."""
    raw = _raw(data)
    entry = _error_table().get(raw[:4])
    if entry is None:
        return None
    name, types, names = entry
    try:
        values = abi_decode(types, raw[4:])
    except Exception:
        values = None
    return name, types, names, values


def decode_error(data: str | bytes) -> tuple[str, dict] | None:
    """Revert data as (error name, {argument: value}), e.g. ("SettlementRefused", {"instructionId":
    b"..", "reason": 2, "tokenReason": 0}); None for an unknown error or undecodable arguments."""
    decoded = _decode_error(data) if data else None
    if decoded is None or decoded[3] is None:
        return None
    name, _, names, values = decoded
    return name, dict(zip(names, values))


def describe_revert(data: str | bytes | None) -> str:
    """`TransferRestricted(from=0x.., to=0x.., amount=1, reason=8 category not allowed)`."""
    if not data:
        return "reverted without a reason"
    decoded = _decode_error(data)
    if decoded is None:
        return f"reverted with unknown error 0x{_raw(data).hex()}"
    name, types, names, values = decoded
    if values is None:
        return f"{name}(undecodable arguments)"
    parts = []
    for n, t, v in zip(names, types, values):
        if n == "reason" and t == "uint8":
            v = f"{v} {Reason(v).describe()}" if v in Reason._value2member_map_ else v
        elif isinstance(v, bytes):
            v = "0x" + v.hex()
        parts.append(f"{n}={v}" if n else str(v))
    return f"{name}({', '.join(parts)})"


# ---------------------------------------------------------------------- event logs


@dataclass(frozen=True)
class EventShape:
    name: str
    indexed: tuple[tuple[str, str], ...]  # (name, type) from topics 1..3
    data: tuple[tuple[str, str], ...]  # (name, type) from data
    static_words: bool  # every data field is one 32-byte word: decode by slicing


WORD_TYPES = ("address", "bool", "bytes32", "bytes2") + tuple(f"uint{n}" for n in range(8, 257, 8))


@cache
def events(artifact: str) -> dict[str, EventShape]:
    """topic0 (0x hex) -> how to decode that event, for the events of `artifact`'s ABI."""
    shapes = {}
    for e in artifacts.load(artifact).abi:
        if e["type"] != "event" or e.get("anonymous"):
            continue
        indexed = tuple((i["name"], abi_type(i)) for i in e["inputs"] if i["indexed"])
        data = tuple((i["name"], abi_type(i)) for i in e["inputs"] if not i["indexed"])
        static = all(t in WORD_TYPES for _, t in data)
        shapes["0x" + event_abi_to_log_topic(e).hex()] = EventShape(e["name"], indexed, data, static)
    return shapes


def word(hex_word: str, t: str):
    """One 32-byte ABI word (64 hex digits) as the register keeps it: addresses checksummed,
    bytes as 0x hex, integers as int."""
    if t == "address":
        return checksum("0x" + hex_word[24:])
    if t == "bool":
        return int(hex_word, 16) != 0
    if t == "bytes32":
        return "0x" + hex_word
    if t.startswith("bytes"):
        return "0x" + hex_word[: 2 * int(t[5:])]
    return int(hex_word, 16)


def decode_log(artifact: str, log: dict) -> tuple[str, dict] | None:
    """A raw log (as eth_getLogs gives it) of a contract built from `artifact`: (event name,
    {argument: value}) with values as `word` gives them; None for an event not in that ABI.
    Events whose data is all single words (nearly all) are decoded by slicing; the rest by eth-abi."""
    topics = log["topics"]
    shape = events(artifact).get(topics[0]) if topics else None
    if shape is None:
        return None
    args = {name: word(topic[2:], t) for (name, t), topic in zip(shape.indexed, topics[1:])}
    if shape.static_words:
        data = log["data"][2:]
        for n, (name, t) in enumerate(shape.data):
            args[name] = word(data[64 * n : 64 * n + 64], t)
    elif shape.data:
        values = abi_decode([t for _, t in shape.data], bytes.fromhex(log["data"][2:]))
        for (name, t), value in zip(shape.data, values):
            args[name] = _scalar(value, t)
    return shape.name, args


def decode_event(kind: str, log: dict) -> tuple[str, dict] | None:
    """`decode_log` for a contract the register follows as `kind` (KIND_ARTIFACT)."""
    return decode_log(KIND_ARTIFACT[kind], log)


def _scalar(value, t: str):
    if t == "address":
        return checksum(value)
    if t.startswith("bytes") and isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_scalar(v, t[: t.rindex("[")]) for v in value]
    return value


def bytes2_text(hex_value: str) -> str:
    """A `bytes2` country code as `word` gives it (0x4842) as text (HK)."""
    return bytes.fromhex(hex_value[2:]).decode("ascii", errors="replace")


def decode_bytes_array(data: bytes) -> list[bytes]:
    """A returned `bytes[]` (one dynamic value, e.g. a multicall's results), read by its offsets:
    eth_abi's decoder takes milliseconds on hundreds of items (tests hold the two equal)."""
    base = int.from_bytes(data[:32], "big")
    count = int.from_bytes(data[base : base + 32], "big")
    heads = base + 32
    out = []
    for i in range(count):
        at = heads + int.from_bytes(data[heads + 32 * i : heads + 32 * i + 32], "big")
        size = int.from_bytes(data[at : at + 32], "big")
        out.append(data[at + 32 : at + 32 + size])
    return out
