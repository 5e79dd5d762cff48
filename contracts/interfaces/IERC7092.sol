// SPDX-License-Identifier: CC0-1.0
pragma solidity ^0.8.24;

/**
 * @title ERC-7092 Financial Bonds
 * @notice The interface as the standard names it (https://eips.ethereum.org/EIPS/eip-7092).
 * @dev The standard also lists `Transfer(address,address,uint256)` and
 * `Approval(address,address,uint256)`. They are the ERC-20 events of the same signature (same
 * topic), which an ERC-20 compatible bond already emits; Solidity does not allow declaring
 * them twice, so they are left to IERC20 here. ERC-165 ids cover functions only.
 */
interface IERC7092 {
    event TransferBatch(address[] _from, address[] _to, uint256[] _amount);
    event ApprovalBatch(address _owner, address[] _spender, uint256[] _amount);

    // getter functions
    function isin() external view returns (string memory);
    function name() external view returns (string memory);
    function symbol() external view returns (string memory);
    function currency() external view returns (address);
    function denomination() external view returns (uint256);
    function issueVolume() external view returns (uint256);
    function couponRate() external view returns (uint256);
    function issueDate() external view returns (uint256);
    function maturityDate() external view returns (uint256);
    function principalOf(address _account) external view returns (uint256);
    function allowance(address _owner, address _spender) external view returns (uint256);

    // setter functions
    function approve(address _spender, uint256 _amount) external returns (bool);
    function decreaseAllowance(address _spender, uint256 _amount) external;
    function transfer(address _to, uint256 _amount, bytes calldata _data) external returns (bool);
    function transferFrom(address _from, address _to, uint256 _amount, bytes calldata _data) external returns (bool);

    // batch functions
    function batchApprove(address[] calldata _spender, uint256[] calldata _amount) external returns (bool);
    function batchDecreaseAllowance(address[] calldata _spender, uint256[] calldata _amount) external;
    function batchTransfer(address[] calldata _to, uint256[] calldata _amount, bytes[] calldata _data)
        external
        returns (bool);
    function batchTransferFrom(
        address[] calldata _from,
        address[] calldata _to,
        uint256[] calldata _amount,
        bytes[] calldata _data
    ) external returns (bool);
}

/**
 * @title ERC-7092 optional bond parameters
 * @notice Named `IERC7092ESG` in the standard.
 */
interface IERC7092ESG {
    function decimals() external view returns (uint8);
    function currencyOfCoupon() external view returns (address);
    function couponType() external view returns (uint8);
    function couponFrequency() external view returns (uint256);
    function dayCountBasis() external view returns (uint8);
}
