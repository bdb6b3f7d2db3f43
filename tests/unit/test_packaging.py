"""What `pip install .` installs, as setuptools reads it from pyproject.toml: every
package folder of the source, under the name the code imports it by."""

from __future__ import annotations

import warnings
from pathlib import Path

from setuptools.config.pyprojecttoml import read_configuration

ROOT = Path(__file__).resolve().parents[2]
SOURCE_FOLDERS = ("domain", "workflows", "projections", "api", "thidua")


def installed_name(folder: Path, package_dir: dict[str, str]) -> str:
    """The package name a source folder is installed as (setuptools' `package-dir`)."""
    relative = folder.relative_to(ROOT).as_posix()
    for name, directory in sorted(package_dir.items(), key=lambda item: -len(item[1])):
        if directory and (relative == directory or relative.startswith(directory + "/")):
            return ".".join([name, *relative[len(directory):].strip("/").split("/")]).strip(".")
    return relative.replace("/", ".")


def test_every_package_folder_is_installed_under_the_name_it_is_imported_by() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # setuptools calls [tool.setuptools] "beta"
        config = read_configuration(ROOT / "pyproject.toml")["tool"]["setuptools"]
    package_dir = config.get("package-dir") or {}
    folders = [init.parent for top in SOURCE_FOLDERS for init in (ROOT / top).rglob("__init__.py")
               if "__pycache__" not in init.parts]
    expected = {installed_name(folder, package_dir) for folder in folders}

    assert len(expected) >= len(SOURCE_FOLDERS)
    assert sorted(expected - set(config["packages"])) == []
    assert sorted(set(config["packages"]) - expected) == []
