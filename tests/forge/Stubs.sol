// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @dev A token that refuses every call (as a cash leg's transferFrom or a security leg's
/// settlementTransfer) with revert data of its choosing, zero-padded to at least `size` bytes.
contract HostileToken {
    bytes internal reply;
    uint256 internal immutable size;

    constructor(bytes memory reply_, uint256 size_) {
        reply = reply_;
        size = size_;
    }

    fallback() external {
        bytes memory r = reply;
        if (r.length < size) {
            bytes memory padded = new bytes(size);
            for (uint256 i = 0; i < r.length; ++i) {
                padded[i] = r[i];
            }
            r = padded;
        }
        assembly ("memory-safe") {
            revert(add(r, 32), mload(r))
        }
    }
}

/// @dev A token (or a contract party) whose every call succeeds with these return data, and
/// moves nothing.
contract AnsweringToken {
    bytes internal answer;

    constructor(bytes memory answer_) {
        answer = answer_;
    }

    fallback() external {
        bytes memory r = answer;
        assembly ("memory-safe") {
            return(add(r, 32), mload(r))
        }
    }
}

/// @dev A contract party (ERC-1271) or token that burns all the gas it is given.
contract GasBurner {
    fallback() external {
        assembly {
            invalid()
        }
    }
}

/// @dev A token or contract party that spends `work` gas on every call, then answers `answer`.
contract SlowAnswer {
    uint256 internal immutable work;
    bytes internal answer;

    constructor(uint256 work_, bytes memory answer_) {
        work = work_;
        answer = answer_;
    }

    fallback() external {
        uint256 start = gasleft();
        while (start - gasleft() < work) {}
        bytes memory r = answer;
        assembly ("memory-safe") {
            return(add(r, 32), mload(r))
        }
    }
}

/// @dev An honest ERC-1271 contract wallet: it vouches for what its owner's key signed, and
/// says so with the magic value 0x1626ba7e (else 0xffffffff).
contract OwnedWallet {
    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && recovered == owner ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }
}

/// @dev A contract whose every call returns its own call data (a pass-through stub).
contract Echo {
    fallback() external {
        assembly {
            calldatacopy(0, 0, calldatasize())
            return(0, calldatasize())
        }
    }
}
