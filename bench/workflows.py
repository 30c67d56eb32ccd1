"""Workflows benchmark: durable steps per second, instances per second, cost per step.

    .venv/bin/python bench/workflows.py [--instances 2000] [--steps 5] [--sequential 200] [--json]

Throughput: ``--instances`` instances of a workflow with ``--steps`` trivial ``step.do``
steps are created at once through the binding (each ``create`` returns once the instance
row is committed); the clock stops when the last instance's ``complete`` status is
committed. Every step commits its attempt start and its result before the workflow moves
on (WAL, ``synchronous=NORMAL``, group commit across instances). Latency: ``--sequential``
instances run one after another, so each step pays for its own commits: that is the cost
per step with nothing to share a transaction with. Real clock, state in a temporary
directory, the engine of a real ``Platform`` workflows plugin.
Target on a 2-core machine: >= 500 durable steps/s. Wall and CPU time are both printed:
on a shared machine the wall figures include time the process spent descheduled.
``--json``: the figures as data (bench/results.py), for bench/report.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import Figure, Target, add_json_option, emit, text_output
from emulator.bindings.workflows.engine import WorkflowEngine
from emulator.bindings.workflows.entrypoint import WorkflowEntrypoint
from emulator.clock import RealClock
from emulator.logs import EventLog


def make_workflow(steps: int) -> type[WorkflowEntrypoint]:
    class Trivial(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            total = 0
            for i in range(steps):
                @step.do(f"step-{i}")
                async def one() -> int:
                    return i  # noqa: B023 - awaited before the loop moves on
                total += await one()
            return total
    return Trivial


async def wait_complete(engine: WorkflowEngine, n: int) -> None:
    while True:
        done = engine.store.query("SELECT COUNT(*) FROM instances WHERE status = 'complete'")[0][0]
        if done >= n:
            return
        await asyncio.sleep(0.005)


async def throughput(state: Path, instances: int, steps: int) -> tuple[float, float]:
    engine = WorkflowEngine(state / "throughput.sqlite3", RealClock(), EventLog())
    cls = make_workflow(steps)
    engine.register("bench", lambda: cls(None, {}))
    await engine.start()
    binding = engine.binding("bench")
    t0 = time.perf_counter()
    await asyncio.gather(*(binding.create(id=f"i{n}") for n in range(instances)))
    await wait_complete(engine, instances)
    elapsed = time.perf_counter() - t0
    await engine.stop()
    return elapsed, instances * steps / elapsed


async def sequential(state: Path, instances: int, steps: int) -> float:
    engine = WorkflowEngine(state / "sequential.sqlite3", RealClock(), EventLog())
    cls = make_workflow(steps)
    engine.register("bench", lambda: cls(None, {}))
    await engine.start()
    binding = engine.binding("bench")
    t0 = time.perf_counter()
    for n in range(instances):
        handle = await binding.create(id=f"s{n}")
        await engine.wait_finished("bench", handle.id)
    elapsed = time.perf_counter() - t0
    await engine.stop()
    return elapsed


async def measure(args: argparse.Namespace) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        cpu0 = time.process_time()
        elapsed, steps_per_s = await throughput(state, args.instances, args.steps)
        cpu = time.process_time() - cpu0
        total = args.instances * args.steps
        print(f"concurrent: {args.instances} instances x {args.steps} steps in {elapsed:.2f} s "
              f"(CPU {cpu:.2f} s)")
        print(f"  {args.instances / elapsed:,.0f} instances/s, {steps_per_s:,.0f} durable steps/s, "
              f"{1000 / steps_per_s:.3f} ms/step wall, {cpu * 1000 / total:.3f} ms/step CPU")
        concurrent_cpu = cpu * 1000 / total
        cpu0 = time.process_time()
        seq = await sequential(state, args.sequential, args.steps)
        cpu = time.process_time() - cpu0
        per_step = seq * 1000 / (args.sequential * args.steps)
        print(f"sequential: {args.sequential} instances one at a time in {seq:.2f} s (CPU {cpu:.2f} s)")
        print(f"  {args.sequential / seq:,.0f} instances/s, {per_step:.3f} ms/step wall "
              f"({1000 / per_step:,.0f} durable steps/s with no concurrency), "
              f"{cpu * 1000 / (args.sequential * args.steps):.3f} ms/step CPU")
        target = 500
        verdict = "meets" if steps_per_s >= target else "MISSES"
        print(f"target >= {target} durable steps/s (concurrent throughput): {verdict}")
    shape = f"{args.steps} steps"
    return [
        Figure(f"{args.instances:,} concurrent instances of {shape}: durable steps per second", "throughput",
               "steps/s", steps_per_s, target=Target("value", ">=", target)),
        Figure(f"{args.instances:,} concurrent instances of {shape}: CPU per step", "CPU time per step", "ms",
               concurrent_cpu),
        Figure(f"{args.sequential:,} sequential instances of {shape}: wall time per step", "time per step", "ms",
               per_step),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--sequential", type=int, default=200)
    add_json_option(parser)
    args = parser.parse_args()
    with text_output(args.json):
        figures = asyncio.run(measure(args))
    emit("workflows", figures, args.json)

if __name__ == "__main__":
    main()
