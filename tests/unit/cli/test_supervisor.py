"""The supervisor with small real child processes: start, crash report, ordered stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from rtad.cli.supervisor import ChildSpec, Supervisor, tail_lines


def py(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


SLEEPER = py(
    """
    import signal, sys, time
    print("ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    time.sleep(120)
    """
)


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_child_logs_to_its_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    child = sup.start(ChildSpec("sleeper", SLEEPER))
    wait_for(lambda: "ready" in tail_lines(child.log_path))
    assert sup.first_exit() is None
    codes = sup.stop_all()
    assert codes == {"sleeper": 0}
    assert gone(child.pid)
    assert (tmp_path / "sleeper.log").read_text().strip() == "ready"


def test_child_in_its_own_session(tmp_path: Path) -> None:
    with Supervisor(tmp_path) as sup:
        child = sup.start(ChildSpec("sleeper", SLEEPER))
        assert os.getpgid(child.pid) == child.pid != os.getpgid(0)
        assert os.getsid(child.pid) == child.pid


def test_crash_is_reported_with_code_and_last_lines(tmp_path: Path) -> None:
    crasher = py(
        """
        import sys
        for i in range(30):
            print(f"line {i}")
        print("boom: cannot connect", file=sys.stderr)
        sys.exit(3)
        """
    )
    with Supervisor(tmp_path) as sup:
        sup.start(ChildSpec("sleeper", SLEEPER))
        sup.start(ChildSpec("crasher", crasher))
        wait_for(lambda: sup.children[1].poll() is not None)
        exited = sup.first_exit(tail=5)
        assert exited is not None
        assert (exited.name, exited.returncode) == ("crasher", 3)
        assert exited.tail.splitlines()[-1] == "boom: cannot connect"
        assert len(exited.tail.splitlines()) == 5
        assert "crasher exited with code 3" in exited.describe()
        assert sup.first_exit() is None, "a crash is reported once"


def test_sigterm_ignored_is_killed_after_timeout(tmp_path: Path) -> None:
    stubborn = py(
        """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(120)
        """
    )
    sup = Supervisor(tmp_path)
    child = sup.start(ChildSpec("stubborn", stubborn, stop_timeout=1.0))
    wait_for(lambda: "ready" in tail_lines(child.log_path))
    started = time.monotonic()
    codes = sup.stop_all()
    assert codes["stubborn"] == -signal.SIGKILL
    assert 0.9 < time.monotonic() - started < 5
    assert gone(child.pid)


def test_grandchildren_are_stopped_even_outside_the_group(tmp_path: Path) -> None:
    # One grandchild stays in the group (like Spark's JVM), one escapes with setsid.
    parent = py(
        """
        import subprocess, sys, time
        a = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        b = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                             start_new_session=True)
        print(a.pid, b.pid, flush=True)
        time.sleep(120)
        """
    )
    sup = Supervisor(tmp_path)
    child = sup.start(ChildSpec("parent", parent, stop_timeout=2.0))
    wait_for(lambda: len(tail_lines(child.log_path).split()) == 2)
    grandchildren = [int(p) for p in tail_lines(child.log_path).split()]
    assert all(not gone(pid) for pid in grandchildren)
    sup.stop_all()
    for pid in [child.pid, *grandchildren]:
        wait_for(lambda pid=pid: gone(pid), timeout=5)


def test_stop_order_is_start_order(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    specs = []
    for name in ("generator", "stream", "scorer", "prometheus"):
        code = f"""
            import signal, sys, time
            def bye(*_):
                with open({str(journal)!r}, "a") as f:
                    f.write({name!r} + "\\n")
                sys.exit(0)
            signal.signal(signal.SIGTERM, bye)
            print("ready", flush=True)
            time.sleep(120)
            """
        specs.append(ChildSpec(name, py(code)))
    sup = Supervisor(tmp_path / "logs")
    for spec in specs:
        sup.start(spec)
    for child in sup.children:
        wait_for(lambda child=child: "ready" in tail_lines(child.log_path))
    sup.stop_all()
    assert journal.read_text().split() == ["generator", "stream", "scorer", "prometheus"]


def test_children_die_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    # The supervisor itself gets SIGKILL (no chance to clean up): the kernel's parent-death
    # signal still ends its children.
    script = py(
        f"""
        import sys, time
        from pathlib import Path
        from rtad.cli.supervisor import ChildSpec, Supervisor
        sup = Supervisor(Path({str(tmp_path)!r}))
        sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
        child = sup.start(ChildSpec("orphan", sleeper))
        print(child.pid, flush=True)
        time.sleep(120)
        """
    )
    outer = subprocess.Popen(script, stdout=subprocess.PIPE, text=True)
    assert outer.stdout is not None
    child_pid = int(outer.stdout.readline())
    assert not gone(child_pid)
    outer.kill()
    outer.wait()
    wait_for(lambda: gone(child_pid), timeout=5)


@pytest.mark.parametrize("lines", [1, 3])
def test_tail_lines_reads_the_end(tmp_path: Path, lines: int) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"row {i}\n" for i in range(10_000)))
    expected = [f"row {i}" for i in range(10_000 - lines, 10_000)]
    assert tail_lines(log, lines).splitlines() == expected
    assert tail_lines(tmp_path / "missing.log") == ""
