"""Imports follow the data flow (docs/architecture.md): a module imports only from its own layer or
the layers before it; inference never imports training."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "synnet_recon"
# docs/architecture.md, "Layers": first to last.
LAYERS = [
    ("errors", "schemas", "fileio", "paths", "o3d", "blas", "pinhole", "skeleton", "keypoints", "tracking", "motion", "scopes"),
    ("io",),
    ("pose",),
    ("synth",),
    ("sync",),
    ("recon",),
    ("viewer", "exporters"),
    ("batch", "demo", "demo_rgb"),
    ("commands", "cli"),
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in ("__init__.py",))


def imported_modules(path: Path) -> list[str]:
    """Absolute names of the synnet_recon modules that ``path`` imports, lazy imports included."""
    package = list(path.relative_to(REPO).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                names.append(".".join(base + ([node.module] if node.module else [])))
            else:
                names.append(node.module)
    return [n for n in names if n.split(".")[0] == "synnet_recon" and "." in n]


def test_every_module_has_a_layer():
    tops = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in MODULES}
    assert tops - set(RANK) <= {"data", "weights"}, tops - set(RANK)


@pytest.mark.parametrize("path", [p for p in MODULES if p.relative_to(PACKAGE).parts[0].removesuffix(".py") in RANK],
                         ids=lambda p: str(p.relative_to(REPO)))
def test_imports_follow_the_data_flow(path):
    mine = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    upstream = [n for n in imported_modules(path) if RANK.get(n.split(".")[1], -1) > RANK[mine]]
    assert not upstream, f"{mine} imports from later stages: {upstream}"


@pytest.mark.parametrize("module", ["matcher", "model", "align", "pair", "combine", "evidence"])
def test_inference_does_not_import_training(module):
    path = PACKAGE / "sync" / f"{module}.py"
    assert path.exists(), path
    training = [n for n in imported_modules(path) if n in ("synnet_recon.sync.train", "synnet_recon.sync.data")]
    assert not training, f"sync/{module}.py imports {training}"
