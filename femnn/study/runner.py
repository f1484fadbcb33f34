"""Running a study under MPI: groups of ranks, dynamic dealing, one writer, restartable.

``mpiexec -n N femnn study SPEC --out DIR --ranks-per-case R``

* The world communicator is split into N / R groups of R consecutive ranks; each case runs
  distributed on its group's communicator (gmsh on the group's rank 0, DOLFINx distributes).
* Cases are dealt out dynamically: a group leader that is free claims the next unfinished case by
  creating ``DIR/.claims/<run>/<case_id>`` with O_CREAT|O_EXCL (atomic, also on a shared network
  file system), so long and short cases balance without a dispatcher rank that would sit idle.
  Only ``DIR`` must be shared between machines; nothing uses /tmp or the working directory.
* A finished case's leader writes its record to ``DIR/.records/<case_id>.json`` (temporary name,
  then rename). World rank 0 is the single writer of ``DIR/cases.jsonl``: it merges records after
  each of its own cases and at the end, rewriting the file atomically.
* Rerunning the same command merges any records a killed run left behind and skips every case
  already recorded, so a killed study loses at most the cases in flight. A failed case (mechanism,
  diverged solver, mesh failure) is recorded with its error and the study goes on.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
import time
import traceback
import uuid
from pathlib import Path

from femnn.errors import InputError
from femnn.train.runs import lock_directory
from femnn.report.files import _clean, atomic_write_text, versions
from femnn.study.cases import run_case
from femnn.study.spec import Study, case_id


def read_records(path: Path) -> dict:
    """case_id -> record from cases.jsonl (each line one JSON record)."""
    recs = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                recs[r["case_id"]] = r
    return recs


def prepare_out(out: Path, option: str = "--out") -> None:
    """The study directory must be a directory (or creatable): refuse a file or a path under one."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(option, "", f"{out} is not a directory; give a study directory")
    p = out
    while not p.exists() and p.parent != p:
        p = p.parent
    if not p.is_dir():
        raise InputError(option, "", f"{out} lies under {p}, which is a file; choose another {option}")
    if not os.access(p, os.W_OK | os.X_OK):
        raise InputError(option, "", f"{p} is not writable; choose another {option}")


def _merge(out: Path, records: dict, retry_failed: bool = False) -> dict:
    """Move finished records from .records/ into cases.jsonl (rank 0 only); return all records."""
    rec_dir = out / ".records"
    new = []
    if rec_dir.is_dir():
        for f in sorted(rec_dir.glob("*.json")):
            r = json.loads(f.read_text())
            if r["case_id"] not in records or (records[r["case_id"]]["status"] != "ok" and r["status"] == "ok"):
                records[r["case_id"]] = r
            new.append(f)
    if new or retry_failed:
        lines = [json.dumps(r) for r in records.values()]
        atomic_write_text(out / "cases.jsonl", "".join(line + "\n" for line in lines))
        for f in new:
            f.unlink()
    return records


def run_study(comm, study: Study, out: Path, ranks_per_case: int = 1, retry_failed: bool = False,
              progress: bool = True) -> dict:
    """Run every unfinished case of ``study``; returns ``{"ok": n, "failed": n, "skipped": n}`` on all ranks."""
    size, rank = comm.size, comm.rank
    R = int(ranks_per_case)
    if R < 1 or size % R:
        raise InputError("--ranks-per-case", "", f"{R} does not divide the {size} MPI ranks; choose a divisor of {size}")
    payload = None
    lock = None
    if rank == 0:
        try:
            prepare_out(out, "--out")
            out.mkdir(parents=True, exist_ok=True)
            lock = lock_directory(out, "--out")
            lock.__enter__()      # held until this run ends: a second run on the same --out is refused
        except InputError as exc:
            lock = None
            payload = exc
    payload = comm.bcast(payload, root=0)
    if isinstance(payload, InputError):
        raise payload
    try:
        return _run_locked(comm, study, out, R, retry_failed, progress)
    finally:
        if lock is not None:
            lock.__exit__(None, None, None)


def _run_locked(comm, study: Study, out: Path, R: int, retry_failed: bool, progress: bool) -> dict:
    size, rank = comm.size, comm.rank
    payload = None
    if rank == 0:
        for stale in out.glob(".*.tmp"):
            stale.unlink()
        (out / ".records").mkdir(exist_ok=True)
        for stale in (out / ".records").glob(".*.tmp"):   # a record half-written when a run was killed
            stale.unlink()
        records = read_records(out / "cases.jsonl")
        if retry_failed:
            records = {k: v for k, v in records.items() if v["status"] == "ok"}
        records = _merge(out, records, retry_failed)
        run_id = uuid.uuid4().hex[:12]
        claims = out / ".claims"
        if claims.is_dir():
            for old in claims.iterdir():
                for f in old.iterdir():
                    f.unlink()
                old.rmdir()
        (claims / run_id).mkdir(parents=True)
        payload = (sorted(records), run_id)
    done, run_id = comm.bcast(payload, root=0)
    done = set(done)
    group = comm.Split(color=rank // R, key=rank)
    leader = group.rank == 0
    todo = [(i, c) for i, c in enumerate(study.cases) if case_id(c) not in done]
    claim_dir = out / ".claims" / run_id
    n_run = 0
    t_start = time.perf_counter()
    pos = 0
    while True:
        mine = None
        if leader:
            while pos < len(todo):
                i, c = todo[pos]
                pos += 1
                try:
                    fd = os.open(claim_dir / case_id(c), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                    os.close(fd)
                    mine = i
                    break
                except FileExistsError:
                    continue
        mine = group.bcast(mine, root=0)
        if mine is None:
            break
        params = study.cases[mine]
        cid = case_id(params)
        t0 = time.perf_counter()
        try:
            res = run_case(group, study, params)
            status, err = "ok", None
        except Exception as exc:  # recorded, never swallowed silently: the record carries the error
            res, status = {"outputs": {}}, "failed"
            err = f"{type(exc).__name__}: {exc}"
            if os.environ.get("FEMNN_DEBUG"):
                traceback.print_exc()
        n_run += 1
        if leader:
            rec = {"case_id": cid, "index": mine, "params": params, "status": status, "error": err,
                   "outputs": res["outputs"], "seconds": time.perf_counter() - t0, "ranks": R,
                   "group": rank // R, "host": socket.gethostname(), "versions": versions(),
                   "python": platform.python_version(), "run_id": run_id}
            atomic_write_text(out / ".records" / f"{cid}.json", json.dumps(_clean(rec)))
            if progress:
                print(f"[study {study.name}] case {mine + 1}/{len(study.cases)} {status} in {rec['seconds']:.2f} s "
                      f"(group {rank // R}){'' if err is None else ': ' + err}", file=sys.stderr, flush=True)
            if rank == 0:
                _merge(out, read_records(out / "cases.jsonl"))
    comm.Barrier()
    summary = None
    if rank == 0:
        records = _merge(out, read_records(out / "cases.jsonl"))
        for f in (out / ".claims" / run_id).iterdir():
            f.unlink()
        (out / ".claims" / run_id).rmdir()
        ids = [case_id(c) for c in study.cases]
        mine_recs = [records[i] for i in ids if i in records]
        summary = {"ok": sum(r["status"] == "ok" for r in mine_recs), "failed": sum(r["status"] == "failed" for r in mine_recs),
                   "skipped": len(done & set(ids)), "missing": sum(i not in records for i in ids),
                   "seconds": time.perf_counter() - t_start}
    group.Free()
    return comm.bcast(summary, root=0)
