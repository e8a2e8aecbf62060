"""A fresh Dagster home opened by several processes at the same moment: without the
first-use lock, some crash migrating the same schema ("table alembic_version already
exists"; seen in 7 of 20 processes here); with it every one gets a working instance."""

import os
import subprocess
import sys
import time

from tests.dagster.helpers import REPO

OPEN = """
import sys, time
from tiktok_assets.instance import init_instance
start = float(sys.argv[1])
while time.time() < start:
    pass
instance = init_instance()
instance.add_dynamic_partitions("videos", [f"v{sys.argv[2]}"])
print(len(instance.get_runs(limit=1)))
"""


def test_processes_racing_on_a_fresh_home_all_get_a_working_instance(tmp_path):
    for trial in range(3):
        home = tmp_path / f"home{trial}"
        home.mkdir()
        (home / "dagster.yaml").write_text((REPO / "dagster_home" / "dagster.yaml").read_text())
        start = time.time() + 6  # every process has imported dagster by then
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN, str(start), str(i)],
                cwd=REPO,
                env={**os.environ, "DAGSTER_HOME": str(home)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(4)
        ]
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, [err[-400:] for _, err in outs]
        assert [out.strip() for out, _ in outs] == ["0"] * 4
