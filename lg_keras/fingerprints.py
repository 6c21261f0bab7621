"""The one hashing scheme of the project: a short sha256 of a value's canonical JSON.

Every name derived from content goes through `fingerprint`: a config's hash
(`config_io.config_hash`, which names builds and runs), a run key's suffix (`pipelines.plan`), a
clustered dataset's build hash (`pipelines.cluster_experiment`, `components/cluster`), the
evaluator's evaluation key and the report's condition id (`components/reporter/report_runs`).
Finished runs and builds on disk are named by these digests, so the canonical form below must
never change: tests/lg_keras/test_fingerprints.py pins each user's output.

    fingerprint({"k": [2, 5], "seed": 0})           # 16 hex digits
    fingerprint(experiment_dict, length=10)         # the report's condition ids
"""

import hashlib
import json
from typing import Any

# Hex digits kept of the sha256: 16 for config hashes, build hashes and evaluation keys; run keys
# and condition ids keep 10.
DEFAULT_LENGTH = 16


def canonical_json(value: Any) -> str:
    """The text a fingerprint hashes: `value` as JSON reads it back, dumped with sorted keys.

    Reading it back first makes tuples lists and dict keys strings before the keys are sorted (a
    dict with int keys sorts as strings, as it would once written to disk). Python's default
    separators (', ', ': ') and ASCII escapes are part of the form, as every hash on disk used them.

    Raises:
        TypeError: for a value JSON cannot encode (a numpy scalar, a set, a dataclass).
    """
    return json.dumps(json.loads(json.dumps(value)), sort_keys=True)


def fingerprint(value: Any, length: int = DEFAULT_LENGTH) -> str:
    """The first `length` hex digits of sha256(canonical_json(value)).

    Args:
        value: JSON-encodable data (dicts, lists, tuples, strings, numbers, bools, None).
        length: hex digits kept, 1 to 64.
    """
    assert 1 <= length <= 64, length
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]
