"""No unsafe deserialisation of user input, and servers on the loopback interface only.

The source scan parses every module of lg_keras/, components/ and pipelines/ (an AST walk, so
comments and docstrings that mention pickle do not count) and refuses: pickle, marshal and shelve;
yaml.load/unsafe_load/full_load and any YAML loader class not derived from SafeLoader; eval and
exec; tar extraction; numpy loads with allow_pickle=True; Keras loads with safe_mode=False;
torch.load without weights_only=True; subprocesses with shell=True. The Makefile `lint` target
has the grep version of the first rules.
"""

import ast
import pathlib

import pytest
import yaml

from lg_keras import hierarchy_files
from lg_keras.errors import HierarchyError
from pipelines import cli, tensorboard
from tests.helpers import processes

PACKAGES = ("lg_keras", "components", "pipelines")
_BANNED_MODULES = {"pickle", "cPickle", "dill", "marshal", "shelve", "cloudpickle", "joblib"}
_BANNED_YAML = {"load", "unsafe_load", "full_load", "load_all", "unsafe_load_all", "Loader",
                "UnsafeLoader", "FullLoader"}


def _sources():
    for package in PACKAGES:
        for path in sorted(pathlib.Path(processes.REPO, package).rglob("*.py")):
            yield path, ast.parse(path.read_text(), str(path))


def _keyword(call: ast.Call, name: str):
    for keyword in call.keywords:
        if keyword.arg == name and isinstance(keyword.value, ast.Constant):
            return keyword.value.value
    return None


def _dotted(node) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _findings(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            for name in names:
                if name.split(".")[0] in _BANNED_MODULES:
                    found.append((node.lineno, f"imports {name}"))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "yaml" and node.attr in _BANNED_YAML:
                found.append((node.lineno, f"yaml.{node.attr}"))
        elif isinstance(node, ast.ClassDef):
            for base in map(_dotted, node.bases):
                if base.startswith("yaml.") and base.endswith("Loader") and base not in (
                        "yaml.SafeLoader", "yaml.CSafeLoader"):
                    found.append((node.lineno, f"class {node.name}({base})"))
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            short = name.rsplit(".", 1)[-1]
            if name in ("eval", "exec"):
                found.append((node.lineno, f"{name}()"))
            if short in ("extractall", "extract") and "tar" in name.lower():
                found.append((node.lineno, f"{name}() extracts an archive"))
            if _keyword(node, "allow_pickle") is True:
                found.append((node.lineno, f"{name}(allow_pickle=True)"))
            if _keyword(node, "safe_mode") is False:
                found.append((node.lineno, f"{name}(safe_mode=False)"))
            if name == "torch.load" and _keyword(node, "weights_only") is not True:
                found.append((node.lineno, "torch.load without weights_only=True"))
            if _keyword(node, "shell") is True:
                found.append((node.lineno, f"{name}(shell=True)"))
    return found


# Findings allowed by name, each with why it reads no user input. kfp ships a lightweight component
# as its function's SOURCE (inspect.getsource) and kfp.local's SubprocessRunner runs only
# lightweight components (a container component, which needs no source, would not run locally), so
# the reporter's signature with one input per run is compiled from the module's own template,
# formatted with integers only (make_reporter_component rejects anything but an int >= 0).
ALLOWED = {("components/reporter/kfp_component.py", "exec()")}


def test_no_unsafe_deserialisation_or_shell_in_the_source_tree(counts):
    problems, files, allowed = [], 0, set()
    for path, tree in _sources():
        files += 1
        rel = path.relative_to(processes.REPO).as_posix()
        for line, what in _findings(tree):
            if (rel, what) in ALLOWED:
                allowed.add((rel, what))
            else:
                problems.append(f"{path}:{line}: {what}")
    assert files > 50
    assert not problems, "\n".join(problems)
    assert allowed == ALLOWED  # an allowance nothing needs any more must go
    counts["source_files_scanned"] += files


def test_the_reporter_template_takes_only_a_run_count():
    from components.reporter import kfp_component  # pylint: disable=import-outside-toplevel

    for bad in ("1); import os; os.system('x')  #", 1.0, True, -1):
        with pytest.raises(ValueError, match="num_runs"):
            kfp_component.make_reporter_component(num_runs=bad)


def test_the_scanner_sees_what_it_must_refuse():
    bad = ("import pickle\nfrom marshal import loads\nyaml.load(t)\n"
           "yaml.load(t, Loader=yaml.Loader)\nclass L(yaml.FullLoader): pass\neval('1')\n"
           "tar.extractall('/')\n"
           "np.load(p, allow_pickle=True)\nkeras.models.load_model(p, safe_mode=False)\n"
           "torch.load(p)\nsubprocess.run(c, shell=True)\n")
    assert {line for line, _ in _findings(ast.parse(bad))} == set(range(1, 12))  # every line


def test_hierarchy_yaml_cannot_construct_python_objects(tmp_path):
    """The hierarchy loader is a SafeLoader: python/object tags are a HierarchyError, not a call."""
    assert issubclass(hierarchy_files._StrictLoader, yaml.SafeLoader)  # pylint: disable=protected-access
    marker = tmp_path / "ran"
    for tag in ("!!python/object/apply:os.system", "!!python/object/new:os.system",
                "!!python/name:os.system"):
        path = tmp_path / "h.yaml"
        path.write_text(f"coarse:\n  a: {tag} ['touch {marker}']\n  b: [x]\n")
        with pytest.raises(HierarchyError, match="not valid YAML"):
            hierarchy_files.load_hierarchy(str(path))
    assert not marker.exists()


def test_server_options_default_to_loopback():
    """Every --host option of the `lg` command defaults to 127.0.0.1; none binds all interfaces."""
    parser = cli.build_parser()
    found = []

    def walk(p):
        for action in p._actions:  # pylint: disable=protected-access
            if "--host" in action.option_strings or "--bind_all" in action.option_strings:
                found.append(action)
            if isinstance(getattr(action, "choices", None), dict):
                for sub in action.choices.values():
                    walk(sub)

    walk(parser)
    assert found, "no --host option found (lg tensorboard has one)"
    assert all(a.default == "127.0.0.1" for a in found), [(a.dest, a.default) for a in found]
    assert tensorboard.DEFAULT_HOST == "127.0.0.1"
    assert tensorboard.serve.__defaults__[0] == "127.0.0.1"


@pytest.mark.slow  # TensorBoard takes 10-30 s to start on 2 busy cores
def test_tensorboard_listens_on_loopback_only(tmp_path, counts):
    """The sockets TensorBoard really holds, read from /proc: 127.0.0.1 only."""
    process, url = tensorboard.serve(str(tmp_path))
    try:
        sockets = processes.listening_sockets(process.pid)
        assert sockets, "TensorBoard holds no listening socket"
        assert not processes.non_loopback(sockets), sockets
        assert url == f"http://127.0.0.1:{sockets[0][1]}"
    finally:
        tensorboard.stop(process)
    counts["servers_checked_loopback"] += 1


def test_kfp_local_runs_use_the_subprocess_runner_only():
    """`lg pipeline run-local` starts no server: kfp's SubprocessRunner, never its Docker one."""
    text = pathlib.Path(processes.REPO, "pipelines", "kubeflow.py").read_text()
    assert "SubprocessRunner(" in text and "DockerRunner" not in text


def test_beam_builds_run_in_process():
    """The builder names the in-process FnApiRunner: no Prism download, no job server."""
    from components.example_gen import executor  # pylint: disable=import-outside-toplevel

    options = executor.pipeline_options([]).get_all_options()
    assert options["runner"] == "FnApiRunner"
    assert options["direct_running_mode"] == "in_memory"
