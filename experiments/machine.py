"""What machine a benchmark ran on, and what else the machine was doing meanwhile.

`describe()` names the CPU, its cores and the instruction sets that decide TensorFlow's
matmul speed (AVX2, AVX-512 F, AVX-512 BF16, AVX-512 VNNI, AMX), read from
/proc/cpuinfo, and the versions of the software; where /proc/cpuinfo is missing (not
Linux) the instruction sets are reported as unknown rather than guessed.

`Counters` takes snapshots of the kernel's CPU accounting, so that each timed epoch
carries what could have slowed it: time the cgroup's CPU quota throttled us
(cpu.stat nr_throttled and throttled_usec, or throttled_time under cgroup v1), time
the hypervisor gave our virtual CPUs to someone else (steal in /proc/stat), CPU time
used by every other process (a busy neighbour, a nice-19 job) and the time runnable
tasks waited for a CPU (pressure stall information). A stalled epoch with none of
these is a stall inside the process. Nothing here imports TensorFlow or PyTorch.
"""

import dataclasses
import importlib.metadata
import os
import platform
import time

# Instruction sets by the /proc/cpuinfo flags that show them (any one suffices).
INSTRUCTION_SETS = {
    "AVX2": ("avx2",),
    "AVX-512 F": ("avx512f",),
    "AVX-512 BF16": ("avx512_bf16",),
    "AVX-512 VNNI": ("avx512_vnni",),
    "AMX": ("amx_tile", "amx_bf16", "amx_int8"),
}


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def cpu(cpuinfo_text=None):
    """{"model", "logical_cpus", "usable_cpus", "physical_cores", "instruction_sets"}.

    `cpuinfo_text` is /proc/cpuinfo's text (read from the file when None). Instruction
    sets map to True/False, or None each when there are no flags to read.
    """
    text = _read("/proc/cpuinfo") if cpuinfo_text is None else cpuinfo_text
    model, flags, cores = None, None, set()
    physical_id = None
    for line in (text or "").splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name" and model is None:
            model = value
        elif key in ("flags", "Features") and flags is None:  # "Features" on ARM
            flags = set(value.split())
        elif key == "physical id":
            physical_id = value
        elif key == "core id":
            cores.add((physical_id, value))
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {
        "model": model or platform.processor() or platform.machine() or "unknown",
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "physical_cores": len(cores) or None,
        "instruction_sets": {
            name: (None if flags is None else any(f in flags for f in names))
            for name, names in INSTRUCTION_SETS.items()
        },
    }


def describe_cpu(facts):
    """One line: the model, the cores and which instruction sets it has."""
    sets = facts["instruction_sets"]
    if all(v is None for v in sets.values()):
        isa = "instruction sets unknown (no /proc/cpuinfo)"
    else:
        have = [name for name, v in sets.items() if v]
        lack = [name for name, v in sets.items() if v is False]
        isa = ", ".join(have) or "none of " + ", ".join(INSTRUCTION_SETS)
        if have and lack:
            isa += "; no " + ", ".join(lack)
    cores = f"{facts['logical_cpus']} logical CPUs"
    if facts["physical_cores"]:
        cores += f" ({facts['physical_cores']} cores)"
    if facts["usable_cpus"] != facts["logical_cpus"]:
        cores += f", {facts['usable_cpus']} usable by this process"
    return f"{facts['model']}, {cores}; {isa}"


def package_version(name):
    """The installed version of distribution `name`, without importing it; None if absent.

    PyTorch's version is read this way in the TensorFlow process: importing torch there
    would start its OpenMP runtime next to TensorFlow's threads.
    """
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


# --- What else used the CPUs.


def _cgroup_dirs():
    """(cgroup v1 cpu controller folder or None, cgroup v2 folder or None) of this process."""
    v1 = v2 = None
    for line in (_read("/proc/self/cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        path = path.rstrip("/")
        if controllers == "" and v2 is None:
            for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
                if os.path.exists(f"{root}{path}/cgroup.controllers"):
                    v2 = f"{root}{path}"
                    break
        elif "cpu" in controllers.split(",") and v1 is None:
            for root in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
                if os.path.exists(f"/sys/fs/cgroup/{root}{path}/cpu.stat"):
                    v1 = f"/sys/fs/cgroup/{root}{path}"
                    break
    return v1, v2


def _key_values(text):
    out = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _pressure_total_us(text):
    # "some avg10=... total=N": microseconds in which some runnable task waited for a CPU.
    for line in (text or "").splitlines():
        if line.startswith("some "):
            for field in line.split():
                if field.startswith("total="):
                    return int(field[6:])
    return None


def cpu_quota():
    """The cgroup's CPU quota: {"cpus": quota / period, or None for no limit, "source"}."""
    v1, v2 = _cgroup_dirs()
    if v2 and _read(f"{v2}/cpu.max"):
        quota, _, period = _read(f"{v2}/cpu.max").strip().partition(" ")
        cpus = None if quota == "max" else int(quota) / int(period or 100000)
        return {"cpus": cpus, "source": f"{v2}/cpu.max"}
    if v1:
        quota = _read(f"{v1}/cpu.cfs_quota_us")
        period = _read(f"{v1}/cpu.cfs_period_us")
        if quota is not None and period:
            q = int(quota)
            return {"cpus": None if q < 0 else q / int(period), "source": f"{v1}/cpu.cfs_quota_us"}
    return {"cpus": None, "source": None}


@dataclasses.dataclass
class Snapshot:
    wall: float
    busy_ticks: int | None  # every process, all CPUs (/proc/stat), in clock ticks
    niced_ticks: int | None
    steal_ticks: int | None
    own_ticks: int  # this process and the `pids` given to Counters
    throttled_periods: int | None
    throttled_us: float | None
    pressure_us: int | None


class Counters:
    """Snapshots of CPU accounting; `between(a, b)` says what happened from a to b.

    `pids` are processes whose CPU time counts as ours (a worker that runs the rival's
    epochs); everything else that ran is "others".
    """

    def __init__(self, pids=()):
        self.pids = list(pids)
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.v1, self.v2 = _cgroup_dirs()

    def _process_ticks(self, pid):
        text = _read(f"/proc/{pid}/stat")
        if not text:
            return 0
        fields = text.rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15

    def _throttling(self):
        if self.v2:
            stat = _key_values(_read(f"{self.v2}/cpu.stat"))
            if "nr_throttled" in stat:
                return stat["nr_throttled"], float(stat.get("throttled_usec", 0))
        if self.v1:
            stat = _key_values(_read(f"{self.v1}/cpu.stat"))
            if "nr_throttled" in stat:
                return stat["nr_throttled"], stat.get("throttled_time", 0) / 1000.0
        return None, None

    def snapshot(self):
        busy = niced = steal = None
        stat = _read("/proc/stat")
        if stat and stat.startswith("cpu "):
            v = [int(x) for x in stat.splitlines()[0].split()[1:]]
            v += [0] * (8 - len(v))
            user, nice, system, _idle, _iowait, irq, softirq, steal = v[:8]
            busy, niced = user + nice + system + irq + softirq, nice
        periods, throttled = self._throttling()
        pressure = _pressure_total_us(
            (_read(f"{self.v2}/cpu.pressure") if self.v2 else None) or _read("/proc/pressure/cpu")
        )
        own = self._process_ticks("self") + sum(self._process_ticks(p) for p in self.pids)
        return Snapshot(time.perf_counter(), busy, niced, steal, own, periods, throttled, pressure)

    def between(self, a, b):
        """{"seconds", "own_cpu_seconds", "others_cpu_seconds", "niced_cpu_seconds",
        "steal_seconds", "throttled_periods", "throttled_seconds", "cpu_wait_seconds"};
        None for what this machine does not report."""

        def ticks(x, y):
            return None if x is None or y is None else (y - x) / self.tick

        own = ticks(a.own_ticks, b.own_ticks)
        busy = ticks(a.busy_ticks, b.busy_ticks)
        return {
            "seconds": b.wall - a.wall,
            "own_cpu_seconds": own,
            # Ticks are sampled, so a few hundredths of a second either way are noise.
            "others_cpu_seconds": None if busy is None else max(0.0, busy - own),
            "niced_cpu_seconds": ticks(a.niced_ticks, b.niced_ticks),
            "steal_seconds": ticks(a.steal_ticks, b.steal_ticks),
            "throttled_periods": (
                None
                if a.throttled_periods is None or b.throttled_periods is None
                else b.throttled_periods - a.throttled_periods
            ),
            "throttled_seconds": (
                None
                if a.throttled_us is None or b.throttled_us is None
                else (b.throttled_us - a.throttled_us) / 1e6
            ),
            "cpu_wait_seconds": (
                None
                if a.pressure_us is None or b.pressure_us is None
                else (b.pressure_us - a.pressure_us) / 1e6
            ),
        }


def wait_until_quiet(counters, window=2.0, busy_fraction=0.05, timeout=180.0):
    """Waits until other processes use under `busy_fraction` of one CPU over a `window`
    of seconds (a rival's compiler warming its worker pool in the background, say), at
    most `timeout` seconds; returns (seconds waited, whether it became quiet)."""
    start = time.perf_counter()
    while True:
        a = counters.snapshot()
        time.sleep(window)
        others = counters.between(a, counters.snapshot())["others_cpu_seconds"]
        waited = time.perf_counter() - start
        if others is None or others <= busy_fraction * window:
            return waited, True
        if waited >= timeout:
            return waited, False


def summed(deltas):
    """The sum of `Counters.between` results, key by key (None where any is None)."""
    if not deltas:
        return {}
    out = {}
    for key in deltas[0]:
        values = [d.get(key) for d in deltas]
        out[key] = None if any(v is None for v in values) else sum(values)
    return out


def load_average():
    """The 1-minute load average, or None."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
