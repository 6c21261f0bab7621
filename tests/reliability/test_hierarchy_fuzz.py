"""Property tests: any hierarchy YAML text loads as a valid Hierarchy or is refused with a
HierarchyError naming the file, never a ValueError, RecursionError or TypeError from PyYAML.
"""

import os
import tempfile

from hypothesis import example, given
from hypothesis import strategies as st
import pytest

from lg_keras import hierarchy_files, labels
from lg_keras.errors import HierarchyError
from tests.helpers.fuzz import fuzz

# YAML scalars that are not plain strings, or not what they look like: numbers, booleans, null,
# dates (2001-02-30 made PyYAML raise a bare ValueError), anchors, aliases, tags.
TOKENS = ("cat", "dog", "car", "truck", "n02085620", "'quoted'", '"dq"', "1", "0.5", "yes", "no",
          "on", "null", "~", "2001-02-03", "2001-02-30", "2001-13-01", "1e3", ".inf", ".nan",
          "&a cat", "*a", "!!str 5", "!!binary aGk=", "!!python/object/apply:os.system ['true']",
          "!!set {a}", "!!omap [a: 1]", "<<: *a", "? [x]", "''", "- x", "[", "]", "{", "}", ":",
          "#c", "\t", "é", "\x00", "\ufeff")
KEYS = ("name", "dataset", "description", "coarse", "display_names", "fine_indices", "extra")

_odd = st.sampled_from(TOKENS) | st.text(alphabet=st.characters(codec="utf-8"), max_size=6)


WORDS = tuple(f"w{i}" for i in range(12)) + ("cat", "dog", "car", "truck", "n02085620")
# A plain name most of the time, an odd token (above) or random text now and then.
token = st.integers(0, 9).flatmap(lambda i: st.sampled_from(WORDS) if i < 7 else _odd)


@st.composite
def _groups(draw):
    """[(coarse name, [fine names])]: distinct plain names, now and then an odd token instead."""
    pool = list(draw(st.permutations(WORDS)))
    groups = []
    for _ in range(draw(st.integers(1, 4))):
        size = draw(st.integers(0 if draw(st.integers(0, 5)) == 0 else 1, 3))
        groups.append((pool.pop(), [pool.pop() for _ in range(size)]))
    if draw(st.integers(0, 4)) == 0:
        c = draw(st.integers(0, len(groups) - 1))
        if groups[c][1] and draw(st.booleans()):
            groups[c][1][draw(st.integers(0, len(groups[c][1]) - 1))] = draw(_odd)
        else:
            groups[c] = (draw(_odd), groups[c][1])
    return groups


@st.composite
def hierarchy_yaml(draw):
    """Mostly well-formed hierarchy documents with odd names, values and structure."""
    lines = []
    others = [k for k in KEYS if k != "coarse"]
    keys = draw(st.lists(st.sampled_from(others), max_size=3, unique=True))
    fines_used = []
    for key in ["coarse"] + keys if draw(st.integers(0, 4)) else keys:
        if key == "coarse":
            lines.append("coarse:")
            for coarse, fines in draw(_groups()):
                fines_used += fines
                style = draw(st.integers(0, 5))
                if style <= 2:
                    lines.append(f"  {coarse}: [{', '.join(fines)}]")
                elif style <= 4:
                    lines.append(f"  {coarse}:")
                    lines += [f"    - {f}" for f in fines]
                else:
                    lines.append(f"  {coarse}: {draw(token)}")
        elif key in ("display_names", "fine_indices"):
            keys_ = st.sampled_from(fines_used) if fines_used else token
            values = st.integers(0, 5).map(str) | token if key == "fine_indices" else token
            pairs = draw(st.lists(st.tuples(keys_ | token, values), max_size=3))
            lines.append(f"{key}: {{{', '.join(f'{a}: {b}' for a, b in pairs)}}}")
        else:
            lines.append(f"{key}: {draw(token)}")
    text = "\n".join(lines) + "\n"
    if draw(st.integers(0, 3)) == 0:  # a random edit: drop, repeat or insert a span
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 8)))
        text = text[:i] + draw(st.sampled_from(["", text[i:j] * 2, draw(token), "\n"])) + text[j:]
    return text


def _check(text: str, counts) -> None:
    """Loads `text` from a file: a valid Hierarchy, or a HierarchyError naming the file."""
    counts["generated_hierarchy_texts"] += 1
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False, encoding="utf-8",
                                         errors="surrogatepass") as f:
            f.write(text)
        hierarchy = hierarchy_files.load_hierarchy(f.name)
    except HierarchyError as e:
        assert f.name in str(e), str(e)
        counts["generated_inputs_rejected_cleanly"] += 1
        return
    finally:
        os.remove(f.name)
    assert hierarchy.num_coarse_classes >= 2
    assert sorted(set(hierarchy.fine_to_coarse)) == list(range(hierarchy.num_coarse_classes))
    assert len(set(hierarchy.fine_names)) == hierarchy.num_fine_classes
    assert labels.Hierarchy.from_dict(hierarchy.to_dict(), "round trip") == hierarchy
    counts["generated_inputs_accepted"] += 1


@fuzz(150)
@given(text=hierarchy_yaml())
@example(text="name: 2001-02-30\ncoarse: {a: [x], b: [y]}\n")
@example(text="coarse: {a: [2001-02-30], b: [y]}\n")
@example(text="[" * 3000 + "]" * 3000)
@example(text="coarse: !!python/object/apply:os.system ['true']\n")
@example(text="coarse:\n  a: &x [cat, *x]\n  b: [dog]\n")
def test_hierarchy_yaml_text(text, counts):
    _check(text, counts)


@fuzz(60)
@given(text=st.text(max_size=80))
def test_hierarchy_arbitrary_text(text, counts):
    _check(text, counts)


@pytest.mark.parametrize("payload", [b"\xff\xfe\x00coarse", b"coarse: {a: [\xe9], b: [x]}"])
def test_hierarchy_file_that_is_not_utf8(tmp_path, payload):
    path = tmp_path / "h.yaml"
    path.write_bytes(payload)
    with pytest.raises(HierarchyError, match="UTF-8"):
        hierarchy_files.load_hierarchy(str(path))
