"""The server's threads under SCHED_BATCH: set on every thread at start-up, inherited by later ones.

Each case runs in a fresh interpreter: the policy is process state and must not leak into
the test runner.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is Linux's")

_PROBE = textwrap.dedent(
    """
    import json, os, sys, threading
    from service.cpu_scheduling import apply_cpu_scheduling

    release = threading.Event()
    before = threading.Thread(target=release.wait)  # a thread that exists before the policy is set
    before.start()
    said = apply_cpu_scheduling(sys.argv[1])
    policies = {}
    def record(name):
        policies[name] = os.sched_getscheduler(0)
    later = threading.Thread(target=record, args=("later",))  # created afterwards: inherits
    later.start(); later.join()
    record("main")
    policies["before"] = os.sched_getscheduler(before.native_id)
    release.set(); before.join()
    print(said)
    print(json.dumps(policies))
    """
)


def _run(policy: str) -> tuple[str, dict[str, int]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, policy], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    said, policies = done.stdout.strip().splitlines()
    return said, json.loads(policies)


def test_batch_applies_to_existing_threads_and_later_ones_inherit_it():
    said, policies = _run("batch")
    assert said == "batch (SCHED_BATCH)"
    assert policies == {"main": os.SCHED_BATCH, "before": os.SCHED_BATCH, "later": os.SCHED_BATCH}


def test_normal_leaves_the_system_default():
    said, policies = _run("normal")
    assert said.startswith("normal")
    assert policies == {"main": os.SCHED_OTHER, "before": os.SCHED_OTHER, "later": os.SCHED_OTHER}
