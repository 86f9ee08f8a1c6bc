"""Churn proven in the lab: the estimate of the ExecStartPre loop's cgroup creations against the
starts and directories actually observed, the node count against the files counted independently
here, and no churn at all for the missing Avahi unit's activations."""
import json
import time

from unitaudit.errors import ExitStatus

UNIT = "deepin-anything-monitor.service"
# Wait until the unit's cgroup directories exist (a failing ExecStartPre leaves them only
# milliseconds), then count each one's entries: independent of unitaudit's own counting.
COUNT = r"""
for i in $(seq 3000); do
  dirs=$(find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d -name "$1" 2>/dev/null)
  n=$(echo "$dirs" | grep -c .)
  if [ "$n" -ge 2 ]; then
    out=""
    for d in $dirs; do out="$out$d $(($(ls -A "$d" 2>/dev/null | wc -l) + 1))\n"; done
    if ! echo "$dirs" | while read d; do [ -d "$d" ] || exit 1; done; then continue; fi
    printf "$out"; exit 0
  fi
  sleep 0.005
done
exit 1
"""


def _counted(seed_lab):
    for _ in range(5):  # a directory can vanish while it is counted: count again
        r = seed_lab.run("sh", "-c", COUNT, "sh", UNIT, check=False)
        rows = [line.rsplit(" ", 1) for line in r.stdout.splitlines() if line.strip()]
        if r.returncode == 0 and rows and all(int(n) > 1 for _d, n in rows):
            return {d: int(n) for d, n in rows}
    raise AssertionError("never saw %s's cgroup directories" % UNIT)


def test_estimated_cgroup_creations_match_the_starts_observed(seed_lab):
    directories = _counted(seed_lab)
    n0 = int(seed_lab.show(UNIT, "NRestarts"))
    t0 = time.monotonic()
    time.sleep(30)
    n1 = int(seed_lab.show(UNIT, "NRestarts"))
    observed = (n1 - n0) * 3600 / (time.monotonic() - t0) * len(directories)
    r = seed_lab.unitaudit("churn", "--json")
    assert r.returncode == ExitStatus.FINDINGS, r.stderr
    loop = [x for x in json.loads(r.stdout)["loops"] if x["unit"] == UNIT][0]
    estimated = loop["churn"]["cgroups_per_hour"]
    print("observed %.0f, estimated %.0f cgroup directories per hour (%d starts in 30 s, %d directories a start)"
          % (observed, estimated, n1 - n0, len(directories)))
    assert abs(estimated - observed) <= 0.2 * observed


def test_nodes_per_directory_are_the_files_counted_independently(seed_lab):
    r = seed_lab.unitaudit("churn", "--measure", UNIT, "--seconds", "8", "--json")
    assert r.returncode == ExitStatus.FINDINGS, r.stderr
    measured = json.loads(r.stdout)["measured"]
    counted = _counted(seed_lab)
    assert {d: n for _h, d, n in measured["directories"]} == counted
    assert measured["nodes_per_start"] == sum(counted.values())
    assert measured["restarts"] >= 2
    assert measured["directories_appeared"] >= 1


def test_the_missing_units_activations_cost_no_cgroup(seed_lab):
    doc = seed_lab.scan_json()
    avahi = [f for f in doc["findings"] if f["kind"] == "activation-loop"][0]
    assert avahi["churn"]["cgroups_per_hour"] == 0
    assert avahi["churn"]["kernfs_nodes_per_hour"] == 0
    assert "creates no cgroup" in avahi["churn"]["basis"]["starts_per_hour"]
    restart = [f for f in doc["findings"] if f["unit"] == UNIT][0]
    assert restart["churn"]["cgroups_per_hour"] > 0
    assert doc["kernel"]["kernfs_object_size"] > 0
