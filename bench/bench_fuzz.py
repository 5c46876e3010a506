"""Fuzzing our readers with 1,000 inputs each (issue 10's target: no traceback in 1,000 fuzzed
inputs per reader).

Usage: python bench/bench_fuzz.py [--examples 1000] [--json out.json]
Runs the tests marked ``fuzz`` (hypothesis; CI runs them with 200 inputs each) under the ``fuzz``
profile, derandomized, and prints one markdown row per fuzzer: inputs, outcome, wall time. A
fuzzer passes when every input ends in a clean result or a one-line InputError.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="inputs per fuzzer (the 'fuzz' profile: 1000)")
    parser.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = parser.parse_args()
    env = dict(os.environ, SYNRECON_FUZZ_PROFILE="fuzz" if args.examples == 1000 else "ci",
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    if args.examples not in (200, 1000):
        raise SystemExit("--examples must be 200 (ci profile) or 1000 (fuzz profile)")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "fuzz",
                               "--junitxml", str(report), "tests"], cwd=REPO, env=env, capture_output=True, text=True)
        total = time.perf_counter() - t0
        import xml.etree.ElementTree as ET

        rows = []
        for case in ET.parse(report).iter("testcase"):
            failed = case.find("failure") is not None or case.find("error") is not None
            rows.append({"test": f"{case.get('classname')}::{case.get('name')}", "inputs": args.examples,
                         "outcome": "FAILED" if failed else "clean or one-line InputError",
                         "seconds": round(float(case.get("time", 0.0)), 1)})
    print("| fuzzer | inputs | outcome | seconds |\n|---|---|---|---|")
    for r in rows:
        print(f"| `{r['test']}` | {r['inputs']} | {r['outcome']} | {r['seconds']} |")
    print(f"\n{len(rows)} fuzzers, {sum(r['outcome'] == 'FAILED' for r in rows)} failed, {total:.0f} s wall")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "seconds": total}, indent=2) + "\n")
    if proc.returncode:
        print(proc.stdout[-3000:], file=sys.stderr)
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
