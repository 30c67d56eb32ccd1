"""kill -9 during step 3 of 5: after a restart steps 1–2 are not redone, step 3 runs again.

A real child process runs the engine (RealClock, the state file in tmp_path); its steps
append to a log file. The test SIGKILLs it while step 3's first attempt is running, starts a
second process on the same state directory, and checks the log and the stored attempts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

SCRIPT = textwrap.dedent('''
    import asyncio, json, sys
    from pathlib import Path
    from emulator.bindings.workflows.entrypoint import WorkflowEntrypoint
    from emulator.bindings.workflows.engine import WorkflowEngine
    from emulator.clock import RealClock

    state, log_path, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

    def note(line):
        with open(log_path, "a") as f:
            f.write(line + "\\n")
            f.flush()

    class FiveSteps(WorkflowEntrypoint):
        async def run(self, event, step):
            total = 0
            for i in range(1, 6):
                @step.do(f"step-{i}")
                async def one(ctx):
                    note(f"{ctx.step.name}:{ctx.attempt}")
                    if ctx.step.name == "step-3" and ctx.attempt == 1:
                        await asyncio.sleep(60)  # killed here
                    return ctx.step.name
                total += len(await one())
            return total

    async def main():
        engine = WorkflowEngine(state / "workflows.sqlite3", RealClock())
        engine.register("five", lambda: FiveSteps(None, {}))
        await engine.start()
        if mode == "create":
            await engine.binding("five").create(id="crashy", params={})
        inst = await engine.binding("five").get("crashy")
        while (await inst.status()).status not in ("complete", "errored"):
            await asyncio.sleep(0.01)
        print(json.dumps(dict(await inst.status())))
        print(json.dumps(engine.describe("five", "crashy")))
        await engine.stop()

    asyncio.run(main())
''')


def wait_for_line(path: Path, line: str, proc: subprocess.Popen[str], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and line in path.read_text().splitlines():
            return
        assert proc.poll() is None, f"child exited early: {proc.communicate()}"
        time.sleep(0.01)
    raise AssertionError(f"{line!r} never appeared in {path}")


def test_kill_9_during_step_3_resumes_without_redoing_steps(tmp_path: Path) -> None:
    script = tmp_path / "crash_child.py"
    script.write_text(SCRIPT)
    log = tmp_path / "steps.log"
    state = tmp_path / "state"
    state.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}

    child = subprocess.Popen([sys.executable, str(script), str(state), str(log), "create"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_for_line(log, "step-3:1", child)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL

    again = subprocess.run([sys.executable, str(script), str(state), str(log), "resume"],
                           capture_output=True, text=True, env=env, timeout=30)
    assert again.returncode == 0, again.stderr
    status_line, describe_line = again.stdout.strip().splitlines()[-2:]
    assert json.loads(status_line) == {"status": "complete", "output": 30, "error": None}
    assert log.read_text().splitlines() == [
        "step-1:1", "step-2:1", "step-3:1", "step-3:2", "step-4:1", "step-5:1"]
    steps = json.loads(describe_line)["steps"]
    assert [(s["name"], s["attempts"]) for s in steps] == [
        ("step-1", 1), ("step-2", 1), ("step-3", 2), ("step-4", 1), ("step-5", 1)]
    # The interrupted attempt is on record without an end.
    assert steps[2]["attempt_log"][0]["end"] is None and steps[2]["attempt_log"][1]["end"] is not None
