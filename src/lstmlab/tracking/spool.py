"""Writes kept on disk while the tracking store does not answer, and lstmlab-sync.

A run whose store goes away keeps training; its per-step metrics wait in memory, then here. When
the store answers again before the run ends, the run's writer sends them itself. When it has
not come back by then (``tracking.outage_wait`` seconds after training), every write still
waiting is put here — metrics, params, tags, texts, figures and folders (copied), the dataset
inputs, the model (as a .keras file) and the run's end — and the command says where.
``lstmlab-sync`` sends it all once the store is back:

    lstmlab-sync /tmp/lstmlab-spool/<run id>      # one run's writes
    lstmlab-sync                                  # every run kept on this machine

One folder per run: ``meta.json`` (store and run), ``writes.jsonl`` (one write per line, in
order) and ``files/``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(tempfile.gettempdir()) / "lstmlab-spool"


class Spool:
    """The folder of one run's writes waiting for its store."""

    def __init__(self, uri: str, run_id: str, root: Path = ROOT):
        self.folder = root / run_id
        (self.folder / "files").mkdir(parents=True, exist_ok=True)
        meta = self.folder / "meta.json"
        if not meta.exists():
            meta.write_text(json.dumps({"uri": uri, "run_id": run_id}))
        self.count = 0

    def add(self, record: dict[str, Any]) -> None:
        record = dict(record)
        for key in ("file", "dir"):  # a temporary file of the run: copied, it will be gone
            if key in record:
                source = Path(record[key])
                target = self.folder / "files" / str(self.count) / source.name  # name kept
                target.parent.mkdir(parents=True)
                if source.is_dir():
                    shutil.copytree(source, target)
                else:
                    shutil.copy2(source, target)
                record[key] = str(target.relative_to(self.folder))
        with (self.folder / "writes.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")
        self.count += 1


def replay(folder: Path, client: Any = None) -> int:
    """Send a spool folder's writes to its store, in order, then remove the folder. Returns
    the number of writes sent. Interrupted (the store went away again), it continues where it
    stopped the next time: the count of writes sent is kept in ``sent``."""
    from mlflow.tracking import MlflowClient

    meta = json.loads((folder / "meta.json").read_text())
    client = client or MlflowClient(meta["uri"])
    writes = folder / "writes.jsonl"
    lines = writes.read_text().splitlines() if writes.exists() else []
    progress = folder / "sent"
    done = int(progress.read_text()) if progress.exists() else 0
    for i, line in enumerate(lines):
        if i < done:
            continue
        send(client, meta["run_id"], json.loads(line), folder)
        progress.write_text(str(i + 1))
    shutil.rmtree(folder)
    return len(lines)


def send(client: Any, run_id: str, r: dict[str, Any], root: Path = Path("/")) -> None:
    """One write of a run, given as its record (the form the spool keeps it in), sent to the
    store: the one place each kind of write is made, for a run's writer and for lstmlab-sync.
    Paths in a record are absolute, or relative to root (the spool folder)."""
    from mlflow.entities import Metric, Param
    from mlflow.exceptions import MlflowException

    op = r["op"]
    if op == "log_batch":
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, t, s) for k, v, t, s in r.get("metrics", [])],
            params=[Param(k, v) for k, v in r.get("params", [])],
        )
    elif op == "set_tag":
        client.set_tag(run_id, r["key"], r["value"])
    elif op == "delete_tag":
        # Never set, or gone already: what was asked holds.
        with contextlib.suppress(MlflowException):
            client.delete_tag(run_id, r["key"])
    elif op == "log_text":
        client.log_text(run_id, r["text"], r["artifact_file"])
    elif op == "log_artifact":
        client.log_artifact(run_id, str(root / r["file"]), r.get("artifact_path"))
    elif op == "log_artifacts":
        client.log_artifacts(run_id, str(root / r["dir"]), r.get("artifact_path"))
    elif op == "log_inputs":
        _log_inputs(client, run_id, r["inputs"])
    elif op == "log_model":
        _log_model(client, run_id, root / r["file"], r)
    elif op == "set_terminated":
        client.set_terminated(run_id, r["status"], r.get("end_time"))
    else:
        raise ValueError(f"unknown write {op!r} for run {run_id}")


def _log_inputs(client: Any, run_id: str, protos: list[str]) -> None:
    from google.protobuf.json_format import Parse
    from mlflow.entities import DatasetInput
    from mlflow.exceptions import MlflowException
    from mlflow.protos.service_pb2 import DatasetInput as DatasetInputProto

    inputs = [DatasetInput.from_proto(Parse(j, DatasetInputProto())) for j in protos]
    # The store looks a dataset up by name and digest and inserts it when missing, in two
    # steps: parallel jobs logging the same dataset for the first time race, and the loser
    # fails on the unique key. Its second try finds the winner's row.
    for attempt in range(5):
        try:
            client.log_inputs(run_id, datasets=inputs)
            return
        except MlflowException as exc:
            text = str(exc).lower()
            if attempt == 4 or not ("unique constraint" in text or "duplicate" in text):
                raise
            time.sleep(0.05 * (attempt + 1))


def _log_model(client: Any, run_id: str, path: Path, r: dict[str, Any]) -> None:
    """A model kept as a .keras file, logged as tracking.RunLog.keras_model would have."""
    import keras
    from mlflow.models import ModelSignature

    from lstmlab.models import register_layers
    from lstmlab.tracking.serving import log_model

    register_layers()
    model = keras.saving.load_model(path)
    log_model(client, run_id, model, r["name"], ModelSignature.from_dict(r["signature"]), r["pins"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lstmlab-sync", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path,
                        help=f"spool folders (default: every one in {ROOT})")  # fmt: skip
    args = parser.parse_args(argv)
    folders = args.folders or sorted(p for p in ROOT.glob("*") if (p / "meta.json").exists())
    if not folders:
        print(f"lstmlab-sync: nothing waits in {ROOT}")
        return
    failed = 0
    for folder in folders:
        if not (folder / "meta.json").exists():
            print(f"lstmlab-sync: error: {folder} is not a spool folder (no meta.json)",
                  file=sys.stderr)  # fmt: skip
            failed += 1
            continue
        meta = json.loads((folder / "meta.json").read_text())
        try:
            sent = replay(folder)
        except Exception as exc:  # noqa: BLE001 (one line per folder; the folder stays)
            print(f"lstmlab-sync: error: run {meta['run_id']} in {meta['uri']}: "
                  f"{str(exc).splitlines()[0]}; {folder} kept", file=sys.stderr)  # fmt: skip
            failed += 1
            continue
        print(f"lstmlab-sync: run {meta['run_id']}: {sent} write(s) sent to {meta['uri']}")
    sys.exit(1 if failed else 0)
