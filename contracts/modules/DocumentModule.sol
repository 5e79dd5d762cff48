// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {TokenBase} from "./TokenBase.sol";

/**
 * @title DocumentModule
 * @notice ERC-1643 documents: the instrument's legal and offering documents, each a URI and the
 * sha256 of its content.
 */
abstract contract DocumentModule is TokenBase {
    struct Document {
        string uri;
        bytes32 documentHash;
        uint256 timestamp;
    }

    /// @custom:storage-location erc7201:bondledger.storage.SecurityTokenDocument
    struct DocumentStorage {
        mapping(bytes32 name => Document) documents;
        bytes32[] documentNames;
    }

    // keccak256(abi.encode(uint256(keccak256("bondledger.storage.SecurityTokenDocument")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant _SLOT = 0x361e5ad2f01813f1e6eb9a0d5b3376c74a15af33adeb03a1bc5b45083a9d3a00;

    /// @notice A document was added or replaced (ERC-1643).
    event DocumentUpdated(bytes32 indexed _name, string _uri, bytes32 _documentHash);
    /// @notice A document was removed (ERC-1643).
    event DocumentRemoved(bytes32 indexed _name, string _uri, bytes32 _documentHash);

    error DocumentNotFound(bytes32 name);

    /// @notice Adds or replaces a document: its URI and the sha256 of its content.
    function setDocument(bytes32 _name, string calldata _uri, bytes32 _documentHash)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _setDocument(_name, _uri, _documentHash);
    }

    /// @notice Removes a document.
    function removeDocument(bytes32 _name) external onlyRole(DEFAULT_ADMIN_ROLE) {
        DocumentStorage storage $ = _docs();
        Document memory doc = $.documents[_name];
        if (doc.timestamp == 0) revert DocumentNotFound(_name);
        delete $.documents[_name];
        uint256 last = $.documentNames.length - 1;
        for (uint256 i = 0; i <= last; ++i) {
            if ($.documentNames[i] == _name) {
                $.documentNames[i] = $.documentNames[last];
                $.documentNames.pop();
                break;
            }
        }
        emit DocumentRemoved(_name, doc.uri, doc.documentHash);
    }

    /// @notice A document's URI, content hash and last update time.
    function getDocument(bytes32 _name) public view returns (string memory, bytes32, uint256) {
        Document memory doc = _docs().documents[_name];
        return (doc.uri, doc.documentHash, doc.timestamp);
    }

    /// @notice The names of all documents.
    function getAllDocuments() external view returns (bytes32[] memory) {
        return _docs().documentNames;
    }

    function _setDocument(bytes32 name_, string memory uri, bytes32 documentHash) internal {
        DocumentStorage storage $ = _docs();
        // slither-disable-next-line incorrect-equality (a zero timestamp means "never set", not a time test)
        if ($.documents[name_].timestamp == 0) $.documentNames.push(name_);
        $.documents[name_] = Document(uri, documentHash, block.timestamp);
        emit DocumentUpdated(name_, uri, documentHash);
    }

    function _docs() private pure returns (DocumentStorage storage $) {
        assembly {
            $.slot := _SLOT
        }
    }
}
