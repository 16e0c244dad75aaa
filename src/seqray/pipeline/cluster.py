"""Runs on a Ray cluster: every node must see the run's files.

On the Ray runner, a chunk's task may run on any node: it reads the inputs and writes its
shards, spill files and parts into the output itself, and the driver then reads them back.
On a cluster with nodes besides the driver's own, a local output path is therefore refused
unless the config declares it shared (`run.shared_output`, a filesystem every node mounts
at the same path: NFS, Lustre); an S3 output needs nothing. Local inputs are checked on
every other node (present, same size) by one small task per node, so a file that exists
only on the driver's machine is named before the run starts instead of failing a task on
another node half-way through. Both checks run before the run writes anything.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, InputError
from ..io.fs import is_s3
from ..io.sources import InputFile

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 300.0  # a node starts a worker for its probe: slow on a busy cluster
SHOW_MISSING = 5  # unreadable inputs named in the error


@dataclass(frozen=True)
class Node:
    node_id: str
    address: str  # the node's IP, for messages


def other_nodes() -> list[Node]:
    """The alive nodes of the connected Ray cluster where tasks run on another machine's
    files than the driver's: every node but the driver's own (all of them for a Ray Client
    driver, which is not on any node)."""
    import ray
    from ray.util.client import ray as client

    here = None if client.is_connected() else ray.get_runtime_context().get_node_id()
    return [
        Node(n["NodeID"], n.get("NodeManagerAddress", "?"))
        for n in ray.nodes()
        if n.get("Alive") and n["NodeID"] != here
    ]


def check_output_shared(output: str, shared: bool, nodes: Sequence[Node]) -> None:
    """Refuses a local output that tasks on other nodes would write into, unless declared
    shared. Only the output directory matters: files outside it (reports, `files`) are
    written by the driver."""
    if not nodes or shared or is_s3(output):
        return
    raise ConfigError(
        f"output {output}: a local path, but the Ray cluster has nodes besides this one "
        f"({len(nodes)} more) and tasks on every node write into the output: use an S3 "
        f"output (s3://bucket/prefix), or, if {output} is on a filesystem that every node "
        "mounts at the same path (NFS, Lustre), set `run.shared_output: true` in the config "
        "(--shared-output on the command line). The inputs, too, must be readable at the "
        "same paths on every node."
    )


def unreadable(paths: Sequence[tuple[str, int | None]]) -> list[str]:
    """What is wrong, in words, with each local path (and its expected size, None for a
    directory or a file whose size does not matter) as this machine sees it."""
    out = []
    for path, size in paths:
        try:
            st = os.stat(path)
        except OSError as exc:
            out.append(f"{path}: {exc.strerror or exc}")
            continue
        if not os.access(path, os.R_OK):
            out.append(f"{path}: permission denied")
        elif size is not None and st.st_size != size:
            out.append(f"{path}: {st.st_size} bytes there, {size} on the driver")
    return out


def check_inputs_everywhere(
    paths: Sequence[tuple[str, int | None]], nodes: Sequence[Node], timeout: float
) -> None:
    """Runs `unreadable` on every node (a zero-CPU task pinned to it) and raises an
    InputError naming the node and the paths it cannot read. A node that does not answer
    in `timeout` seconds is left to the run (logged): the check is a courtesy, the tasks
    still fail on a missing file."""
    if not paths or not nodes:
        return
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe: Any = ray.remote(num_cpus=0, max_retries=0)(unreadable)
    refs = [
        probe.options(
            name="seqray-input-probe",
            scheduling_strategy=NodeAffinitySchedulingStrategy(n.node_id, soft=False),
        ).remote(list(paths))
        for n in nodes
    ]
    ready, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout)
    for ref in pending:
        ray.cancel(ref, force=True)
    if pending:
        log.warning(
            "%d Ray node(s) did not answer within %.0f s: their access to the inputs was "
            "not checked",
            len(pending),
            timeout,
        )
    for node, ref in zip(nodes, refs):
        if ref not in ready:
            continue
        problems = ray.get(ref)
        if problems:
            more = len(problems) - SHOW_MISSING
            shown = "; ".join(problems[:SHOW_MISSING]) + (f"; and {more} more" if more > 0 else "")
            raise InputError(
                f"inputs not readable on Ray node {node.address} ({node.node_id[:12]}): "
                f"{shown}. Tasks run on every node of the cluster, so every input must be on "
                "storage all nodes see at the same path (S3, or NFS/Lustre)"
            )


def check_cluster(
    runner: object, output: str, shared: bool, inputs: Sequence[InputFile], extra: Sequence[str]
) -> None:
    """The checks above, for a run about to start on `runner` (nothing for the in-process
    runner): starts or joins the Ray cluster to learn its nodes. `inputs` are the planned
    input files, `extra` other files the stages read (a tokenizer)."""
    from .runners.ray import RayRunner

    if not isinstance(runner, RayRunner):
        return
    runner.start()
    nodes = other_nodes()
    if not nodes:
        return
    check_output_shared(output, shared, nodes)
    local: list[tuple[str, int | None]] = [
        (i.info.uri, i.info.size) for i in inputs if not is_s3(i.info.uri)
    ]
    local += [(os.path.abspath(p), None) for p in extra if not is_s3(p)]
    check_inputs_everywhere(local, nodes, PROBE_TIMEOUT_S)
