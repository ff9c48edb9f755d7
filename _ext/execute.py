"""Execute the book's notebooks once, on every core, into the cache the book build reads.

``make book`` runs this before ``jupyter-book build``: each notebook whose code changed since it
was last executed runs in its own kernel, ``--jobs`` at a time, and its outputs are stored in the
book's jupyter-cache (``_build/.jupyter_cache``), exactly where myst-nb's ``execute_notebooks:
cache`` looks; the build then finds every notebook executed and runs none itself. A notebook that
fails stops the build here, with its traceback.

``--report`` prints the table of per-notebook execution times (wall and kernel CPU seconds) of
the last run, so every build shows the budget (DESIGN.md: a post at most 30 s, a monograph
chapter at most 90 s, on the 2-core machine; CPU seconds do not grow when other work shares the
machine, wall seconds do).

Usage: python _ext/execute.py [--jobs N] [--timeout S] | --report
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import re
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "_build" / ".jupyter_cache"
TIMES = ROOT / "_build" / "execution-times.json"


def book_notebooks() -> list[Path]:
    """The notebooks the table of contents names, in its order."""
    toc = (ROOT / "_toc.yml").read_text()
    names = re.findall(r"(?:file|root):\s*(\S+)", toc)
    return [ROOT / f"{n}.ipynb" for n in names if (ROOT / f"{n}.ipynb").exists()]


def _config_timeout() -> int:
    """The per-cell timeout of _config.yml (``execute.timeout``), so both executions agree."""
    import yaml

    return int(yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]["timeout"])


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _execute(path: str, timeout: int) -> dict:
    """Run one notebook in a fresh kernel (in a worker process); return it with its timings."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    os.environ["IBCORE_WIDGETS"] = "static"  # no live-widget state in the executed notebook
    os.environ["IBCORE_FIGURE_PDF"] = "1"  # figures also as vector PDF, for the PDF edition
    nb = nbformat.read(path, as_version=4)
    cpu0, t0 = _children_cpu(), time.perf_counter()
    result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout,
                                 allow_errors=False, meta_override=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    return {"path": path, "nb": nbformat.writes(nb), "wall": wall, "cpu": cpu,
            "error": result.exc_string if result.err is not None else None}


def execute(jobs: int, timeout: int) -> int:
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    os.environ["IBCORE_WIDGETS"] = "static"
    os.environ["IBCORE_FIGURE_PDF"] = "1"
    cache = get_cache(str(CACHE))
    times = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    todo, cached = [], 0
    for path in book_notebooks():
        rel = path.relative_to(ROOT).as_posix()
        try:
            record = cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            todo.append(path)
            continue
        cached += 1
        data = record.data or {}
        times[rel] = {"wall": data.get("execution_seconds"), "cpu": data.get("cpu_seconds"),
                      "status": "cached"}
    print(f"execute: {len(todo)} notebook(s) to run on {jobs} worker(s), "
          f"{cached} already in the cache", flush=True)
    failed = []
    if todo:
        # the longest notebooks first, from the last run's times, so the workers finish together
        todo.sort(key=lambda p: -(times.get(p.relative_to(ROOT).as_posix(), {}).get("wall")
                                  or 1e9))
        with cf.ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_execute, str(p), timeout) for p in todo]
            for fut in cf.as_completed(futures):
                res = fut.result()
                rel = Path(res["path"]).relative_to(ROOT).as_posix()
                if res["error"]:
                    failed.append(rel)
                    print(f"execute: {rel} FAILED after {res['wall']:.1f} s\n{res['error']}",
                          file=sys.stderr, flush=True)
                    times[rel] = {"wall": res["wall"], "cpu": res["cpu"], "status": "failed"}
                    continue
                nb = nbformat.reads(res["nb"], as_version=4)
                cache.cache_notebook_bundle(
                    CacheBundleIn(nb, res["path"], data={"execution_seconds": res["wall"],
                                                         "cpu_seconds": res["cpu"]}),
                    check_validity=False, overwrite=True)
                times[rel] = {"wall": res["wall"], "cpu": res["cpu"], "status": "executed"}
                print(f"execute: {rel}: {res['wall']:.1f} s wall, {res['cpu']:.1f} s CPU",
                      flush=True)
    TIMES.parent.mkdir(parents=True, exist_ok=True)
    TIMES.write_text(json.dumps(times, indent=1, sort_keys=True))
    return 1 if failed else 0


def report() -> int:
    if not TIMES.exists():
        print("no execution times recorded yet (run `make book`)")
        return 0
    times = json.loads(TIMES.read_text())
    order = [p.relative_to(ROOT).as_posix() for p in book_notebooks()]
    rows = [(k, times[k]) for k in order if k in times]

    def num(x):
        return f"{x:8.1f}" if isinstance(x, (int, float)) else "       -"

    print("\nPer-notebook execution (seconds on this machine; budget: post 30, chapter 90)")
    print(f"{'notebook':58s} {'wall':>8s} {'CPU':>8s}  status")
    for name, t in rows:
        print(f"{name:58s} {num(t.get('wall'))} {num(t.get('cpu'))}  {t.get('status', '')}")
    wall = sum(t.get("wall") or 0 for _, t in rows)
    cpu = sum(t.get("cpu") or 0 for _, t in rows)
    print(f"{'total':58s} {num(wall)} {num(cpu)}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=int, default=_config_timeout(), help="seconds per cell")
    ap.add_argument("--report", action="store_true", help="print the last run's times")
    args = ap.parse_args(argv)
    if args.report:
        return report()
    return execute(max(1, args.jobs), args.timeout)


if __name__ == "__main__":
    sys.exit(main())
