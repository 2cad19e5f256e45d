"""The ``gnp`` command's start-up, one checkout against another: a relayed ``gnp submit``
and ``gnp --help``, each from a regular (not editable) install of each checkout's wheel,
alternated round by round (ABBA), beside ``python -c pass``, the floor of any command
written in Python.

    git clone -q . /tmp/gnp-before && git -C /tmp/gnp-before checkout -q REV
    make -C /tmp/gnp-before install
    .venv/bin/python bench/startup_bench.py --before /tmp/gnp-before --after .

Each side gets, under ``--work``: its wheel; a venv with the wheel alone (the relayed
submit needs nothing else); a venv with the wheel and its dependencies at the versions of
the checkout's own .venv (``gnp --help`` needs typer and rich); a hub and a ``GNP_HOME``
made by the checkout's own ``gnp``; and that ``gnp``'s relay, stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REQUEST = b'[{"file":"hot/f000.json","op":"incr","path":"/n","value":1}]'
SIDES = ("before", "after")


def sh(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(args)}\n{done.stderr}")
    return done.stdout


class Side:
    """One checkout, installed and served for the benchmark."""

    def __init__(self, name: str, checkout: Path, work: Path) -> None:
        self.name, self.checkout, self.root = name, checkout.resolve(), work / name
        self.env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        self.env["GNP_HOME"] = str(self.root / "home")
        self.hub = str(self.root / "hub.git")
        self.relay: subprocess.Popen[bytes] | None = None

    def install(self) -> None:
        python = str(self.checkout / ".venv/bin/python")
        wheels = self.root / "wheels"
        shutil.rmtree(self.root, ignore_errors=True)
        wheels.mkdir(parents=True)
        sh(python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(self.checkout))
        wheel = str(next(wheels.glob("gnp-*.whl")))
        for venv, extra in (("alone", ["--no-deps"]), ("full", [])):
            sh(python, "-m", "venv", str(self.root / venv))
            pins = self.root / "pins.txt"
            pins.write_text(sh(python, "-m", "pip", "freeze", "--exclude-editable"))
            pip = [str(self.root / venv / "bin/python"), "-m", "pip", "install", "-q"]
            sh(*pip, "--disable-pip-version-check", *extra, wheel, "-c", str(pins))
        gnp = str(self.checkout / ".venv/bin/gnp")
        sh(gnp, "init", self.hub, env=self.env)
        sh(gnp, "keygen", "w", "--hub", self.hub, env=self.env)

    def serve(self) -> None:
        log = (self.root / "relay.log").open("wb")
        self.relay = subprocess.Popen(
            [str(self.checkout / ".venv/bin/gnp"), "relay"],
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not self._listening():
            if self.relay.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{self.name}'s relay did not start; see {self.root}/relay.log")
            time.sleep(0.05)

    def _listening(self) -> bool:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(self.root / "home/relay.sock"))
            except OSError:
                return False
        return True

    def stop(self) -> None:
        if self.relay is not None and self.relay.poll() is None:
            self.relay.send_signal(signal.SIGTERM)
            try:
                self.relay.wait(10)
            except subprocess.TimeoutExpired:
                self.relay.kill()
                self.relay.wait()

    def commands(self) -> dict[str, list[str]]:
        alone, full = self.root / "alone/bin", self.root / "full/bin"
        return {
            "gnp submit (relayed)": [
                *(str(alone / "gnp"), "submit", "--hub", self.hub, "--worker", "w")
            ],
            "python -c pass": [str(alone / "python"), "-c", "pass"],
            "gnp --help": [str(full / "gnp"), "--help"],
        }


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, input=REQUEST, env=env, capture_output=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {command}\n{done.stderr.decode()[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="A checkout, made ready.")
    parser.add_argument("--after", type=Path, required=True, help="Another, made ready.")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--work", type=Path, default=None, help="Where to build (temporary).")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="gnp-startup-"))
    sides = [Side("before", args.before, work), Side("after", args.after, work)]
    for side in sides:
        print(f"installing {side.name} ({side.checkout}) in {side.root}", flush=True)
        side.install()
    samples: dict[tuple[str, str], list[float]] = {}
    try:
        for side in sides:
            side.serve()
        names = list(sides[0].commands())
        for side in sides:  # once each, untimed: the page cache and .pyc files
            for command in side.commands().values():
                timed(command, side.env)
        print(f"load before: {os.getloadavg()[0]:.2f}", flush=True)
        for name in names:
            for i in range(args.rounds):
                for side in sides if i % 2 == 0 else sides[::-1]:
                    samples.setdefault((name, side.name), []).append(
                        timed(side.commands()[name], side.env)
                    )
        print(f"load after: {os.getloadavg()[0]:.2f}\n")
    finally:
        for side in sides:
            side.stop()
    print(f"{args.rounds} rounds, alternated; median ms; ratio = after / before\n")
    print("| command | before | after | after / before | per-round ratios, quartiles |")
    print("|---|---:|---:|---:|---|")
    for name in names:
        before, after = samples[(name, "before")], samples[(name, "after")]
        ratios = statistics.quantiles([a / b for a, b in zip(after, before, strict=True)], n=4)
        b, a = statistics.median(before) * 1000, statistics.median(after) * 1000
        quartiles = " / ".join(f"{r:.2f}" for r in ratios)
        print(f"| {name} | {b:.1f} | {a:.1f} | {a / b:.2f} | {quartiles} |")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
