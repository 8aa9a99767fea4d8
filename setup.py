"""Package discovery for the folder mapping in pyproject: src/operando, drivers/, simulators/, ui/ -> operando.*"""

from setuptools import find_packages, setup

ROOTS = {"operando": "src/operando", "operando.drivers": "drivers",
         "operando.simulators": "simulators", "operando.ui": "ui"}


def _packages() -> list[str]:
    found = []
    for name, folder in ROOTS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(folder)]
    return found


setup(packages=_packages(), package_dir=ROOTS)
