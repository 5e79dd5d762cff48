"""Packaging hook: everything else is in pyproject.toml.

Building the package (`pip wheel .`, `pip install .`) compiles contracts/ with scripts/solc
through ledger.chain.artifacts and puts the result into the build as ledger/chain/contracts_build/
artifacts.json, so an installed bondledger needs no checkout, node_modules or compiler.
An editable install (`pip install -e`) skips it: a checkout compiles on demand.
"""

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class build_py_with_contracts(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        sys.path.insert(0, str(HERE))  # this tree's ledger, not an installed one
        from ledger.chain import artifacts

        target = Path(self.build_lib) / artifacts.PACKAGED.relative_to(HERE)
        data = artifacts.build_package_data(target)
        print(
            f"compiled contracts: {len(data['contracts'])} (solc {data['compiler']}, sources {data['source_hash']}) -> {target}"
        )

    def get_outputs(self, include_bytecode=1):
        outputs = super().get_outputs(include_bytecode)
        if not getattr(self, "editable_mode", False):
            outputs.append(str(Path(self.build_lib) / "ledger" / "chain" / "contracts_build" / "artifacts.json"))
        return outputs


setup(cmdclass={"build_py": build_py_with_contracts})
