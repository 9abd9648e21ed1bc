"""The README's map of the library lists what ``cranioscan/`` holds, no more and no less."""

import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[1]
HEADING = "### The library, `cranioscan/`"


def map_entries(readme_text):
    """Names in the first column of the table under the map's heading (``dicom/``, ``labels.py``)."""
    section = readme_text.split(HEADING, 1)[1].split("\n#", 1)[0]
    names = set()
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) > 2 and not set(cells[1].strip()) <= set("-"):
            names.update(re.findall(r"`([^`]+)`", cells[1]))
    return names


def tree_entries(package):
    """Subpackages (``name/``), data folders (``name/``) and modules (``name.py``) of ``package``."""
    out = set()
    for path in package.iterdir():
        if path.is_dir() and not path.name.startswith(("_", ".")):
            out.add(path.name + "/")
        elif path.suffix == ".py" and not path.name.startswith("_"):
            out.add(path.name)
    return out


def test_the_readme_maps_every_package_and_module_of_the_library():
    listed = map_entries((REPO / "README.md").read_text(encoding="utf-8"))
    present = tree_entries(REPO / "cranioscan")
    assert sorted(present - listed) == [], "in cranioscan/ but not in the README's map"
    assert sorted(listed - present) == [], "in the README's map but not in cranioscan/"


def test_the_map_reader_sees_a_missing_row(tmp_path):
    (tmp_path / "dicom").mkdir()
    (tmp_path / "labels.py").write_text("")
    (tmp_path / "__init__.py").write_text("")
    readme = f"{HEADING}\n\n| package | what |\n|---|---|\n| `dicom/` | the loader |\n\n## Next\n"
    assert tree_entries(tmp_path) - map_entries(readme) == {"labels.py"}
