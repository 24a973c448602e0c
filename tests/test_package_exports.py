"""Every public name a subpackage lists resolves (lazily) to the object its submodule defines."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = ("transforms", "losses", "networks", "engines", "inferers", "metrics", "data")


@pytest.mark.parametrize("name", PACKAGES)
def test_all_exports_resolve(name):
    pkg = importlib.import_module(f"monai_gan_aug.{name}")
    assert pkg.__all__, name
    for export in pkg.__all__:
        obj = getattr(pkg, export)
        module = importlib.import_module(f"monai_gan_aug.{name}.{pkg._EXPORTS[export]}")
        assert getattr(module, export) is obj
    with pytest.raises(AttributeError):
        pkg.not_a_public_name  # noqa: B018


def test_importing_one_submodule_does_not_import_its_siblings():
    code = ("import sys, monai_gan_aug.inferers.region_edit; "
            "print('monai_gan_aug.transforms.text' in sys.modules, 'monai_gan_aug.inferers.difference_map' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
