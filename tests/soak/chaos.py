"""The chaos soak: frames of real worker, engine and janitor processes on one hub on
local disk, with seeded faults, each frame checked against an independent model.

Theory of operation, one soak frame (all choices from one seeded ``random.Random``):

1. plant stale locks (old ``*.lock`` files, as killed git processes leave);
2. start every worker at once as ``gnp run ... -- python -S edit.py``: most do their
   work, some raise after editing, some have their ``gnp run`` SIGKILLed mid-run, some
   run twice at once under one worker id; meanwhile a janitor may sweep, and be killed;
3. merge: one engine, or two racing, each in its own process, each maybe killed at a
   chosen step of the frame (:mod:`tests.soak.killer`) or at a random time, while late
   ``gnp submit`` s arrive during the merge, and a janitor may sweep (and be killed);
4. recover, as an operator would: the janitor and the engine, until nothing is left;
5. check everything against :mod:`tests.soak.model`, and that nothing is left behind,
   every frame replays and lineage has one row per delta.

Nothing in gnp knows it is being soaked: faults come from outside (signals) or from
wrapping gnp's functions in the killer's own process.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gnp.core.ops import Op
from gnp.git.engine import run_frame
from gnp.git.hub import Hub
from gnp.git.inbox import snapshot
from gnp.git.local import LocalRepo
from gnp.git.registry import declare, register
from gnp.git.replay import frame_commits, replay
from gnp.host import locks
from gnp.lineage import store
from gnp.lineage.frames import lineage_root, record_lineage
from gnp.lineage.read import read as read_lineage
from gnp.process.janitor import sweep
from tests.helpers import ROOT
from tests.helpers.hubs import send
from tests.helpers.worktrees import leftovers
from tests.soak.killer import ENGINE_STEPS, JANITOR_STEPS
from tests.soak.model import Effect, Model

GNP = str(Path(sys.executable).with_name("gnp"))
EDIT = str(Path(__file__).with_name("edit.py"))
SUBMITTERS = 4
WAIT = 300  # seconds any one process may take; far more than any needs

# kind of work -> weight
WORK = {"ok": 58, "raise": 12, "kill": 14, "twin": 16}


@dataclass
class Tally:
    """What a soak did and found."""

    seed: int
    frames: int = 0
    gnp_frames: int = 0
    deltas: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    doubled: int = 0
    leftovers: int = 0
    mismatches: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not (self.lost or self.doubled or self.leftovers or self.mismatches or self.problems)

    def to_json(self) -> dict[str, object]:
        return {
            "seed": self.seed,
            "frames": self.frames,
            "gnp_frames": self.gnp_frames,
            "deltas": self.deltas,
            "outcomes": dict(sorted(self.outcomes.items())),
            "faults": dict(sorted(self.faults.items())),
            "lost": self.lost,
            "doubled": self.doubled,
            "leftovers": self.leftovers,
            "replay_mismatches": self.mismatches,
            "problems": self.problems[:50],
            "seconds": round(self.seconds, 1),
        }


@dataclass
class Proc:
    """A process the soak started, and what it stands for."""

    kind: str  # run, submit, engine, janitor
    popen: subprocess.Popen[str]
    effect: Effect | None = None
    killed: bool = False  # by a timer of ours, at a random time
    what: str = ""  # what the timer kills it as
    out: str = ""
    err: str = ""

    def wait(self) -> None:
        self.out, self.err = self.popen.communicate(timeout=WAIT)

    @property
    def code(self) -> int | None:
        return self.popen.returncode


class Soak:
    def __init__(self, seed: int, root: Path, workers: int, say: Callable[[str], None]) -> None:
        self.rng = random.Random(seed)
        self.tally = Tally(seed)
        self.root = root
        self.hub_path = root / "hub.git"
        self.workers = [f"w{i:02d}" for i in range(workers)]
        self.submitters = [f"s{i:02d}" for i in range(SUBMITTERS)]
        self.model = Model()
        self.say = say
        self.started = root / "started"  # the work's marks: it started (see edit.py)
        self.started.mkdir(parents=True, exist_ok=True)
        self.mark = str(self.started)  # on every work's command line: found if left running
        # Keys, local repositories and worktrees go where GNP_HOME and GNP_WORKTREES say:
        # the caller's to choose (a test's own folders, or the soak's).
        self.env = dict(os.environ)
        self.worktrees = Path(os.environ["GNP_WORKTREES"])

    # Setting up --------------------------------------------------------------------------

    def start(self) -> None:
        hub = Hub.init(self.hub_path)
        for worker in self.workers + self.submitters:
            register(hub, worker)
        declare(hub, "c.json", "/n", "counter")
        declare(hub, "log.json", "/declared", "append")
        send(
            hub,
            self.submitters[0],
            Op("add", "c.json", "", {"n": 0}),
            Op("add", "log.json", "", {"declared": [], "free": []}),
            Op("add", "keys.json", "", {"k": {}}),
        )
        report = run_frame(hub)
        assert report.frame == 1, report
        record_lineage(hub, 1)
        self.local = LocalRepo.for_hub(hub)
        self.model.read_frames(hub.repo, frame_commits(hub, 1, 1))
        self.tally.deltas = len(self.model.frame_verdicts[1])
        self.lineage = lineage_root(hub)

    # One soak frame ----------------------------------------------------------------------

    def frame(self, k: int) -> None:
        faults = self.tally.faults
        self._plant_locks()
        runs = self._start_workers(k)
        janitor = None
        if self.rng.random() < 0.5:
            time.sleep(self.rng.uniform(0, 0.6))
            janitor = self._janitor()
        for p in runs:
            self._finish(p)
        if janitor is not None:
            self._finish(janitor)
        engines = [self._engine() for _ in range(2 if self.rng.random() < 0.4 else 1)]
        if len(engines) == 2:
            faults["engines racing"] += 1
        if self.rng.random() < 0.25:
            self._kill_later(self.rng.choice(engines), self.rng.uniform(0.1, 1.5), "engine")
        submits = []
        for j in range(self.rng.choice((0, 0, 1, 2, 3))):
            time.sleep(self.rng.uniform(0.05, 0.4))  # while the engines merge
            submits.append(self._submit(k, j))
        if self.rng.random() < 0.3:  # and a janitor sweeps while they merge
            submits.append(self._janitor())
        for p in engines + submits:
            self._finish(p)
        self._recover()

    def _start_workers(self, k: int) -> list[Proc]:
        procs = []
        for i, worker in enumerate(self.workers):
            kind = self.rng.choices(list(WORK), weights=list(WORK.values()))[0]
            for r in range(2 if kind == "twin" else 1):
                token = f"tok{k:05d}w{i:02d}r{r}"
                pause = self.rng.uniform(0, 0.6 if kind == "kill" else 0.05)
                p = self._run(worker, token, "raise" if kind == "raise" else "ok", pause)
                if kind == "kill":  # in start-up, or in the work, or as it delivers
                    after = self.started / token if self.rng.random() < 0.7 else None
                    self._kill_later(p, self.rng.uniform(0.0, 0.8), "worker", after)
                if kind == "raise":
                    self.tally.faults["worker raised"] += 1
                if kind == "twin" and r:
                    self.tally.faults["worker run twice at once"] += 1
                procs.append(p)
        return procs

    def _run(self, worker: str, token: str, mode: str, pause: float) -> Proc:
        inc, items = self.rng.randint(1, 5), self.rng.randint(1, 3)
        argv = [sys.executable, "-S", EDIT, token, str(inc), str(items), mode, f"{pause:.3f}"]
        command = [GNP, "run", "--hub", str(self.hub_path), "--worker", worker, "--"]
        p = self._popen("run", command + argv + [self.mark])
        p.effect = Effect(token, inc, items, must_apply=False, may_apply=mode == "ok")
        return p

    def _submit(self, k: int, j: int) -> Proc:
        worker = self.submitters[j % len(self.submitters)]
        token = f"tok{k:05d}s{j:02d}r0"
        inc, items = self.rng.randint(1, 5), self.rng.randint(1, 3)
        ops: list[dict[str, object]] = [
            {"op": "incr", "file": "c.json", "path": "/n", "value": inc}
        ]
        for n in range(items):
            ops.append(
                {"op": "append", "file": "log.json", "path": "/declared", "value": f"{token}/d{n}"}
            )
            ops.append(
                {"op": "add", "file": "log.json", "path": "/free/-", "value": f"{token}/f{n}"}
            )
        ops.append({"op": "add", "file": "keys.json", "path": f"/k/{token}", "value": inc})
        p = self._popen(
            "submit",
            [GNP, "submit", "--hub", str(self.hub_path), "--worker", worker, "-"],
            stdin=json.dumps(ops),
        )
        p.effect = Effect(token, inc, items, must_apply=False, may_apply=True)
        self.tally.faults["late submit"] += 1
        return p

    def _engine(self) -> Proc:
        step, n = self._step(ENGINE_STEPS)
        return self._popen("engine", self._killer("engine", step, n))

    def _janitor(self) -> Proc:
        step, n = self._step(JANITOR_STEPS)
        p = self._popen("janitor", self._killer("janitor", step, n, "600"))
        if self.rng.random() < 0.2:
            self._kill_later(p, self.rng.uniform(0.05, 1.0), "janitor")
        return p

    def _step(self, steps: dict[str, tuple[str, str]]) -> tuple[str, int]:
        if self.rng.random() < 0.4:
            return "none", 0
        return self.rng.choice(sorted(steps)), self.rng.randint(1, 3)

    def _killer(self, role: str, step: str, n: int, *rest: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "tests.soak.killer",
            role,
            str(self.hub_path),
            step,
            str(n),
            *rest,
        ]

    def _popen(self, kind: str, argv: list[str], stdin: str | None = None) -> Proc:
        popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            text=True,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        if stdin is not None:
            assert popen.stdin is not None
            popen.stdin.write(stdin)
            popen.stdin.close()
            popen.stdin = None  # written whole: communicate() has nothing more to send
        return Proc(kind, popen)

    def _kill_later(self, p: Proc, seconds: float, what: str, after: Path | None = None) -> None:
        """SIGKILL ``p`` ``seconds`` from now, or from when the file ``after`` appears."""

        def kill() -> None:
            while after is not None and not after.exists() and p.popen.poll() is None:
                time.sleep(0.01)
            time.sleep(seconds)
            if p.popen.poll() is None:
                p.killed = True
                p.popen.send_signal(signal.SIGKILL)

        threading.Thread(target=kill, daemon=True).start()
        p.what = what

    def _finish(self, p: Proc) -> None:
        what = p.what
        p.wait()
        faults = self.tally.faults
        died = p.code == -signal.SIGKILL
        if p.kind in ("engine", "janitor"):
            marked = [line for line in p.out.splitlines() if line.startswith("killed at ")]
            if died and marked:
                faults[f"{p.kind} killed at {marked[0][10:].split('#')[0]}"] += 1
            elif died and p.killed:
                faults[f"{p.kind} killed at a random time"] += 1
            elif p.code != 0:
                faults[f"{p.kind} failed"] += 1  # main locked by a killed one, say
                self.say(f"  {p.kind} exited {p.code}: {p.err.strip()[-200:]}")
            for line in p.out.splitlines():
                words = line.split()
                if p.kind == "janitor" and words[:1] == ["removed"]:  # see killer.janitor
                    faults["chaos janitor: fallbacks it made"] += int(words[5])
                    faults["chaos janitor: deltas it rescued"] += int(words[3])
        if p.effect is None:
            return
        if died and p.killed:
            faults[f"{what} SIGKILLed"] += 1
            e = p.effect  # its delta may have been committed before: either way is right
            self.model.expect(Effect(e.token, e.inc, e.items, False, e.may_apply, killed=True))
            return
        delivered = p.code == 0 and bool(p.out.strip())
        if p.code not in (0, 1) or (p.code == 1 and p.effect.may_apply):
            faults[f"{p.kind} ended unexpectedly"] += 1
            self.tally.problems.append(
                f"{p.effect.token}: {p.kind} exited {p.code}: {p.err.strip()[-300:]}"
            )
        e = p.effect
        self.model.expect(Effect(e.token, e.inc, e.items, delivered, e.may_apply and p.code != 1))

    def _plant_locks(self) -> None:
        """Old lock files, as a git process killed while it held them leaves them."""
        if self.rng.random() >= 0.25:
            return
        where = self.rng.choice(
            [self.hub_path / "refs" / "heads" / "main.lock", self.local.path / "packed-refs.lock"]
        )
        where.write_text("")
        old = time.time() - 3600
        os.utime(where, (old, old))
        self.tally.faults["stale lock"] += 1

    # Recovery and checks -----------------------------------------------------------------

    def _recover(self) -> None:
        """The janitor and the engine, until neither has anything left to do: what an
        operator does after crashes, and what the next frame would do anyway."""
        for _ in range(10):
            hub = Hub.at(self.hub_path)
            swept = sweep(hub, lock_age=0)  # nothing else runs now: every lock is stale
            self.tally.faults["recovery: fallbacks the janitor made"] += len(swept.fallbacks)
            self.tally.faults["recovery: deltas the janitor rescued"] += len(swept.rescued)
            merged = 0
            while (report := run_frame(hub)).frame is not None:
                record_lineage(hub, report.frame)
                merged += 1
            busy = swept.removed or swept.rescued or swept.fallbacks or swept.kept
            if not busy and not merged and not snapshot(hub):
                break
        else:
            self.tally.problems.append(f"recovery still busy after 10 rounds: {swept}")
        hub = Hub.at(self.hub_path)
        latest = hub.state().frame
        if not store.has_frame(self.lineage, latest):
            record_lineage(hub, latest)  # a killed frame's lineage, caught up
            self.tally.faults["lineage caught up"] += 1

    def check(self, k: int) -> list[str]:
        hub = Hub.at(self.hub_path)
        first = self.model.frames_read + 1
        latest = hub.state().frame
        commits = frame_commits(hub, first, latest)
        problems = self.model.read_frames(hub.repo, commits)
        state = hub.state()
        c, log, keys = (state.document(f) for f in ("c.json", "log.json", "keys.json"))
        found, lost, doubled = self.model.check_state(c, log, keys)
        problems += found
        self.tally.lost, self.tally.doubled = lost, doubled  # totals: the model is cumulative
        for n, commit in sorted(commits.items()):
            if not replay(hub, n, str(commit.id)).identical:
                self.tally.mismatches += 1
                problems.append(f"frame {n} does not replay")
        problems += self._check_lineage(first, latest)
        left = self._leftovers(hub)
        self.tally.leftovers += len(left)
        problems += [f"left behind: {x}" for x in left]
        problems += verify_after_frame(hub)
        self.tally.gnp_frames = latest
        self.tally.frames = k
        return problems

    def _check_lineage(self, first: int, last: int) -> list[str]:
        if first > last:
            return []
        rows = read_lineage(self.lineage, frames=(first, last))
        problems = []
        for n in range(first, last + 1):
            archived = self.model.frame_verdicts.get(n, [])
            got = sorted(rows[rows["frame"] == n]["source"].tolist())
            if got != sorted(archived):
                problems.append(f"frame {n}: lineage rows {len(got)}, verdicts {len(archived)}")
            self.tally.deltas += len(archived)
        return problems

    def _leftovers(self, hub: Hub) -> list[str]:
        out = leftovers(self.local)
        out += [f"inbox ref {item.ref}" for item in snapshot(hub)]
        if self.worktrees.is_dir():
            out += [f"worktree folder {p.name}" for p in self.worktrees.iterdir()]
        for repo in (self.hub_path, self.local.path):
            out += [f"lock {p}" for p in repo.rglob("*.lock") if p.name not in locks.NAMES]
        out += [f"process {pid}" for pid in _running(self.mark)]
        return out


def verify_after_frame(hub: Hub) -> list[str]:
    """``gnp verify`` after every soak frame: one line per check that fails."""
    from gnp.git.verify import verify

    return [check.line() for check in verify(hub).checks if not check.ok]


def _running(mark: str) -> list[int]:
    """Processes whose command line holds ``mark``: the soak's work, left running."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if mark.encode() in cmdline and b"edit.py" in cmdline:
            found.append(int(entry.name))
    return found


def soak(
    seed: int, frames: int, workers: int, root: Path, say: Callable[[str], None] = print
) -> Tally:
    """Run ``frames`` soak frames of ``workers`` workers in ``root``; return the tally."""
    started = time.perf_counter()
    s = Soak(seed, root, workers, say)
    s.start()
    for k in range(1, frames + 1):
        t0 = time.perf_counter()
        s.frame(k)
        problems = s.check(k)
        s.tally.problems += [f"soak frame {k}: {p}" for p in problems]
        s.tally.seconds = time.perf_counter() - started
        say(
            f"soak frame {k}/{frames}: {time.perf_counter() - t0:.1f} s, gnp frame "
            f"{s.tally.gnp_frames}, deltas {s.tally.deltas}, problems {len(problems)}"
        )
        for p in problems[:5]:
            say(f"  {p}")
    s.tally.faults["killed worker's delta applied all the same"] = s.model.killed_but_applied()
    s.tally.outcomes = Counter(outcome for vs in s.model.verdicts.values() for _, outcome in vs)
    return s.tally
