"""Output ownership: seqray replaces or deletes only what a seqray run wrote.

An output directory (or S3 prefix) holds a run when it has the marker `_seqray/run.json`,
written before the run writes anything else. The files that run owns are those its
manifest or journal lists, the targets its marker declares (files, and whatever lies in its
shard directories), its own `_seqray/` state and its hidden temporaries (`.NAME.tmp-XXXX`
beside an owned name). `--overwrite` removes exactly those, and is refused, before anything
is removed, when anything else is there; a non-empty directory or prefix that holds no run
is never written into.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow.fs as pafs

from ..errors import OutputError
from ..io.fs import filesystem_for, is_s3, read_json
from .manifest import Journal, file_ok
from .outputs import STATE_DIR, Target, check_writable, normalize, within

MARKER = f"{STATE_DIR}/run.json"
MANIFEST = "manifest.json"
SHOW_FOREIGN = 5  # foreign entries named in a refusal


@dataclass
class Previous:
    """What is at the output before a run starts."""

    output: str
    state: str  # "empty", "partial" (a marker, no manifest), "complete", "foreign"
    entries: list[str] = field(default_factory=list)  # every file under the output (URIs)
    marker: dict | None = None  # the run.json of the run there
    manifest: dict | None = None

    def targets(self) -> list[Target]:
        return [Target.from_json(t) for t in (self.marker or {}).get("targets", [])]

    def listed(self, journal: Iterable[dict] = ()) -> set[str]:
        """Normalised URIs of the files its manifest and journal list."""
        out = set()
        for key in ("shards", "files", "rejects"):
            out |= {normalize(s["uri"]) for s in (self.manifest or {}).get(key, [])}
        for entry in journal:
            out |= {normalize(s["uri"]) for s in entry.get("shards", [])}
        return out

    def claims(self, uri: str, journal: Iterable[dict] = ()) -> bool:
        """Whether the run there wrote the file `uri`: its manifest lists it, or (for an
        interrupted run, whose last files no list may hold yet) it lies where the run's
        marker declared it would write."""
        n = normalize(uri)
        if n in self.listed(journal):
            return True
        return self.state == "partial" and any(
            n == normalize(t.uri) or (t.kind == "dir" and within(n, normalize(t.uri)))
            for t in self.targets()
        )


def _join(output: str, rel: str) -> str:
    if is_s3(output):
        return output.rstrip("/") + "/" + rel
    return os.path.join(os.path.abspath(output), *rel.split("/"))


def list_files(directory: str) -> list[str]:
    """Every file below a local directory or S3 prefix (URIs, sorted); [] when none."""
    fs, path = filesystem_for(directory)
    try:
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.File:
            raise OutputError(f"{directory}: the output must be a directory, but this is a file")
        if info.type == pafs.FileType.NotFound and not is_s3(directory):
            return []
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    except OSError as exc:
        raise OutputError(f"{directory}: cannot list the output: {exc}") from None
    prefix = "s3://" if is_s3(directory) else ""
    return sorted(prefix + i.path for i in infos if i.type == pafs.FileType.File)


def inspect_output(output: str) -> Previous:
    entries = list_files(output)
    if not entries:
        return Previous(output, "empty")
    marker = read_json(_join(output, MARKER))
    if marker is None:
        return Previous(output, "foreign", entries)
    manifest = read_json(_join(output, MANIFEST))
    state = "complete" if manifest and manifest.get("complete") else "partial"
    return Previous(output, state, entries, marker, manifest if state == "complete" else None)


def is_temporary(uri: str) -> bool:
    base = uri.rsplit("/", 1)[-1]
    return base.startswith(".") and ".tmp-" in base


def _temporary_of(uri: str) -> str:
    """`dir/.NAME.tmp-XXXX` → `dir/NAME`."""
    d, b = uri.rsplit("/", 1) if is_s3(uri) else os.path.split(uri)
    name = b[1:].rsplit(".tmp-", 1)[0]
    return d.rstrip("/") + "/" + name if is_s3(uri) else os.path.join(d, name)


def owned_entries(prev: Previous, journal: Iterable[dict] = ()) -> list[str]:
    """The entries under the output that the run there owns."""
    journal = list(journal)
    state = normalize(_join(prev.output, STATE_DIR))
    manifest = normalize(_join(prev.output, MANIFEST))
    out = []
    for e in prev.entries:
        n = normalize(e)
        name = _temporary_of(e) if is_temporary(e) else e
        if n == manifest or within(n, state) or prev.claims(name, journal):
            out.append(e)
    return out


def refuse_foreign(output: str, foreign: list[str], why: str) -> None:
    base = output.rstrip("/") + "/" if is_s3(output) else os.path.abspath(output) + os.sep
    names = [e[len(base) :] if e.startswith(base) else e for e in foreign]
    shown = ", ".join(names[:SHOW_FOREIGN])
    more = f" and {len(names) - SHOW_FOREIGN} more" if len(names) > SHOW_FOREIGN else ""
    raise OutputError(
        f"{output}: {why} ({shown}{more}); seqray never removes or overwrites files it did "
        "not write: move them away or choose another output"
    )


def clear_previous(prev: Previous, journal: Iterable[dict] = ()) -> int:
    """Removes the previous run's files (`--overwrite`): all of them or, when anything
    else is there, none. The manifest goes first, so a half-cleared run never looks
    finished. Returns how many files were removed."""
    journal = list(journal)
    owned = owned_entries(prev, journal)
    foreign = sorted(set(prev.entries) - set(owned))
    if foreign:
        refuse_foreign(
            prev.output,
            foreign,
            "--overwrite replaces only a seqray run, but this output also holds files "
            "that run did not write",
        )
    manifest = normalize(_join(prev.output, MANIFEST))
    marker = normalize(_join(prev.output, MARKER))
    first = [e for e in owned if normalize(e) == manifest]
    last = [e for e in owned if normalize(e) == marker]  # the marker goes last: still a run
    middle = [e for e in owned if e not in first and e not in last]
    n = _remove(first + middle + last)
    remove_empty_dirs(prev.output)
    return n


def remove_stale_temporaries(prev: Previous, targets: list[Target], journal=()) -> int:
    """Half-written files of a killed run: hidden temporaries beside the names it owns,
    in the output and beside its external targets."""
    stale = [e for e in owned_entries(prev, journal) if is_temporary(e)]
    for t in targets:
        if t.kind != "file" or is_s3(t.uri) or within(normalize(t.uri), normalize(prev.output)):
            continue
        d, b = os.path.split(os.path.abspath(t.uri))
        if os.path.isdir(d):
            stale += [os.path.join(d, n) for n in os.listdir(d) if n.startswith(f".{b}.tmp-")]
    return _remove(stale)


def _remove(uris: Iterable[str]) -> int:
    n = 0
    for u in uris:
        fs, path = filesystem_for(u)
        try:
            fs.delete_file(path)
            n += 1
        except FileNotFoundError:
            pass
    return n


def remove_empty_dirs(output: str) -> None:
    """Local directories below the output left empty, bottom-up (S3 has no directories)."""
    if is_s3(output):
        return
    root = os.path.abspath(output)
    for d, _, _ in sorted(os.walk(root), key=lambda w: -len(w[0])):
        if d != root:
            try:
                os.rmdir(d)  # refuses, harmlessly, when something is still there
            except OSError:
                pass


def check_external(targets: list[Target], prev: Previous, journal: Iterable[dict] = ()) -> None:
    """A target outside the output may replace an existing file only when the run there
    wrote it (a report or `files` output of the run being resumed or replaced)."""
    journal = list(journal)
    out = normalize(prev.output)
    for t in targets:
        if within(normalize(t.uri), out):
            continue
        fs, path = filesystem_for(t.uri)
        try:
            exists = fs.get_file_info(path).type != pafs.FileType.NotFound
        except OSError:
            exists = False
        if exists and not (prev.state in ("partial", "complete") and prev.claims(t.uri, journal)):
            raise OutputError(
                f"{t.uri}: {t.stage} would replace this file, which no seqray run at "
                f"{prev.output} wrote: remove it or choose another name"
            )


# -- claiming an output for a run ------------------------------------------------------------


@dataclass
class Claim:
    """The output, made ready for a run: what was there, and what a resume may skip."""

    previous: Previous
    done: dict[str, dict] = field(default_factory=dict)  # verified journaled chunks
    finished: bool = False  # `--resume` of a finished run: verified, nothing to do


def claim_output(
    output: str, targets: list[Target], header: dict, *, resume: bool, overwrite: bool
) -> Claim:
    """Checks the output before anything is read, then clears a replaced run (`overwrite`)
    or picks up an interrupted one (`resume`), and writes the run marker."""
    prev = inspect_output(output)
    if prev.state == "foreign":
        refuse_foreign(output, prev.entries, "the output is not empty and holds no seqray run")
    if prev.state == "complete":
        if resume:
            verify_finished(prev)
            return Claim(prev, finished=True)
        if not overwrite:
            raise OutputError(
                f"{output}: a finished run is already there; use --overwrite to replace it "
                "(or --resume to verify it)"
            )
    if prev.state == "partial" and not (resume or overwrite):
        raise OutputError(
            f"{output}: an interrupted run is there; use --resume to finish it "
            "or --overwrite to start again"
        )
    check_writable(targets)
    journal = Journal(output)
    entries = journal.entries() if prev.state == "partial" else []
    check_external(targets, prev, entries)
    if resume and prev.state == "partial":
        journal.check_header(header)
        remove_stale_temporaries(prev, targets + prev.targets(), entries)
        return Claim(prev, journal.verified(entries))
    if prev.state != "empty":
        clear_previous(prev, entries)
    journal.start(header)
    return Claim(prev)


def verify_finished(prev: Previous) -> int:
    """Every file a finished run's manifest lists is there, unchanged; returns how many."""
    listed = [s for key in ("shards", "files", "rejects") for s in prev.manifest.get(key, [])]
    for entry in listed:
        if not file_ok(entry):
            raise OutputError(
                f"{prev.output}: the finished run there is damaged: {entry['uri']} is missing "
                "or changed since it was written; use --overwrite to run it again"
            )
    return len(listed)
