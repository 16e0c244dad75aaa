"""Output ownership: seqray replaces or deletes only what a seqray run wrote.

An output directory (or S3 prefix) holds a run when it has the marker `_seqray/run.json`,
written before the run writes anything else. The files that run owns are:

- those its manifest (a finished run) or its journal (an interrupted one) lists — every
  chunk's shards (each file of a directory shard) and every file the finishing steps
  wrote, recorded as it is committed; a listed file outside the output must still have
  the size and sha256 recorded for it;
- its own state directory `_seqray/`;
- for an interrupted run, files with its shard names (`part-*.parquet`) in the shard
  directories its marker declares, and the files in a directory shard of such a name
  that its journal does not list (a shard committed just before the run was killed; a
  listed directory shard holds only its listed files), and hidden temporaries
  (`.NAME.tmp-XXXX`, a file or a directory shard's staging directory with what is in
  it) beside the names it owns.

`--overwrite` removes exactly those, and is refused, before anything is removed, when
anything else is there; a non-empty directory or prefix that holds no run is never written
into, and neither is a place inside another run's output.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

import pyarrow as pa
import pyarrow.fs as pafs

from ..errors import OutputError
from ..io.fs import exists, filesystem_for, is_s3, join, read_json
from .manifest import Journal, damaged_file, file_ok, shard_files
from .outputs import MARKER_NAME, STATE_DIR, Target, absolute, check_writable, within

MARKER = f"{STATE_DIR}/{MARKER_NAME}"
MANIFEST = "manifest.json"
SHOW_FOREIGN = 5  # foreign entries named in a refusal


def _at(output: str, rel: str) -> str:
    """The absolute URI of `rel` (e.g. `_seqray/run.json`) in the output."""
    return join(absolute(output), rel)


def _split(uri: str) -> tuple[str, str]:
    return posixpath.split(uri) if is_s3(uri) else os.path.split(uri)


@dataclass
class Previous:
    """What is at the output before a run starts. Entries and records are compared as
    absolute paths with symlinks kept (`absolute`): a link the user put there is theirs."""

    output: str
    state: str  # "empty", "partial" (a marker, no manifest), "complete", "foreign"
    entries: list[str] = field(default_factory=list)  # files (and links) under the output
    marker: dict | None = None  # the run.json of the run there
    manifest: dict | None = None
    journal: list[dict] = field(default_factory=list)  # chunk outcomes (interrupted run)
    journal_files: list[dict] = field(default_factory=list)  # files its finish wrote

    @cached_property
    def targets(self) -> list[Target]:
        """What the run's marker declared it would write."""
        return [Target.from_json(t) for t in (self.marker or {}).get("targets", [])]

    @cached_property
    def records(self) -> dict[str, dict]:
        """absolute URI → {uri, bytes, sha256, ...} of every shard and file the run listed
        as written, and of each file a shard lists (a directory shard's files)."""
        listed: list[dict] = []
        if self.state == "complete":
            for key in ("shards", "files", "rejects"):
                listed += (self.manifest or {}).get(key, [])
        else:
            listed += [s for e in self.journal for s in e.get("shards", [])]
            listed += self.journal_files
        out: dict[str, dict] = {}
        for s in listed:
            out[absolute(s["uri"])] = s
            for f in s.get("files", []):
                out.setdefault(absolute(f["uri"]), f)
        return out

    def claims(self, uri: str) -> bool:
        """Whether the run there wrote the file (or directory shard) `uri` (see the
        module's docstring)."""
        a = absolute(uri)
        entry = self.records.get(a)
        if entry is not None:
            inside = within(a, absolute(self.output))
            return inside or file_ok(entry)  # outside: still exactly what was written
        if self.state != "partial":
            return False
        return any(self._unlisted_shard(t, a) for t in self.targets)

    def _unlisted_shard(self, t: Target, a: str) -> bool:
        """Whether `a` is a shard named by the pattern of `t`'s shard directory, or a file
        in such a directory shard that the journal does not list: what an interrupted
        run committed just before it was killed. A directory shard the journal lists
        holds only the files it lists."""
        if t.kind != "dir" or t.pattern is None:
            return False
        base = absolute(t.uri)
        d, name = _split(a)
        if d == base:
            return fnmatch.fnmatchcase(name, t.pattern)
        if not t.directories or not within(a, base):
            return False
        top = a[len(base) :].lstrip("/" + os.sep).split("/")[0]
        return fnmatch.fnmatchcase(top, t.pattern) and join(base, top) not in self.records

    def owns(self, uri: str) -> bool:
        """`claims`, or the run's manifest and state directory (a run's in any case)."""
        if self.state not in ("partial", "complete"):
            return False
        a, out = absolute(uri), absolute(self.output)
        if a == _at(out, MANIFEST) or within(a, _at(out, STATE_DIR)):
            return True
        return self.claims(a) or self.claims_temporary(a)

    def claims_temporary(self, uri: str) -> bool:
        """A hidden temporary `.NAME.tmp-XXXX` (a half-written file, or a directory shard's
        staging directory and what is in it) beside a name the run owns or declared."""
        root = _temporary_root(uri, self.output)
        if root is None:
            return False
        d, base = _split(root)
        name = base[1:].rsplit(".tmp-", 1)[0]
        beside = join(d, name)
        # a file, or a store (a directory target without a shard pattern)
        declared = {absolute(t.uri) for t in self.targets if t.kind == "file" or not t.pattern}
        return beside in declared or self.claims(beside)


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and ".tmp-" in name


def _temporary_root(uri: str, output: str) -> str | None:
    """The hidden temporary that `uri` is, or (below `output`) the outermost one it lies
    in (a directory shard's staging directory); None when it is in none."""
    a, out = absolute(uri), absolute(output)
    if a == out or not within(a, out):
        return a if _is_temporary(_split(a)[1]) else None
    parts = a[len(out) :].lstrip("/" + os.sep).split("/")
    for i, part in enumerate(parts):
        if _is_temporary(part):
            return join(out, *parts[: i + 1])
    return None


def _list_local(root: str) -> list[str]:
    """Files and links below a local directory, without following links."""
    out = []
    for d, dirs, files in os.walk(root, followlinks=False):
        out += [os.path.join(d, f) for f in files]
        out += [os.path.join(d, x) for x in dirs if os.path.islink(os.path.join(d, x))]
    return sorted(out)


def list_files(directory: str, recursive: bool = True) -> list[str]:
    """Files below a local directory or S3 prefix (URIs, sorted); [] when there is none.
    Not recursive: the entries of the top level only (enough to see it is not empty)."""
    fs, path = filesystem_for(directory)
    try:
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.File:
            raise OutputError(f"{directory}: the output must be a directory, but this is a file")
        if not is_s3(directory):
            if info.type == pafs.FileType.NotFound:
                return []
            if not recursive:
                return sorted(os.path.join(path, n) for n in os.listdir(path))
            return _list_local(path)
        selector = pafs.FileSelector(path, recursive=recursive, allow_not_found=True)
        infos = fs.get_file_info(selector)
    except (OSError, pa.ArrowInvalid) as exc:
        raise OutputError(f"{directory}: cannot list the output: {exc}") from None
    # recursively, the objects; at the top level, "directories" (common prefixes) too
    kinds = (pafs.FileType.File,) if recursive else (pafs.FileType.File, pafs.FileType.Directory)
    return sorted("s3://" + i.path for i in infos if i.type in kinds)


def inspect_output(output: str) -> Previous:
    """The state of the output; a directory without a marker is looked at no deeper than
    its first level (it is refused whatever it holds)."""
    marker = read_json(_at(output, MARKER))
    if marker is None:
        top = list_files(output, recursive=False)
        return Previous(output, "foreign" if top else "empty", top)
    entries = list_files(output)
    manifest = read_json(_at(output, MANIFEST))
    if manifest and manifest.get("complete"):
        return Previous(output, "complete", entries, marker, manifest)
    journal = Journal(output)
    return Previous(
        output, "partial", entries, marker, None, journal.entries(), journal.file_entries()
    )


def enclosing_run(output: str) -> str | None:
    """The output of a seqray run that `output` lies inside, if any: its files are that
    run's to replace, so nothing else may be written there."""
    fs, path = filesystem_for(output)
    parts = path.rstrip("/").split("/")
    for n in range(len(parts) - 1, 0, -1):
        base = "/".join(parts[:n])
        if not base or base == "/":
            continue
        try:
            found = fs.get_file_info(f"{base}/{MARKER}").type == pafs.FileType.File
        except (OSError, pa.ArrowInvalid):
            found = False
        if found:
            return ("s3://" + base) if is_s3(output) else base
    return None


def owned_entries(prev: Previous) -> list[str]:
    """The entries under the output that the run there owns."""
    out = absolute(prev.output)
    nested = [  # another run's output inside this one (made before the checks existed)
        e[: -len(MARKER) - 1]
        for e in prev.entries
        if e.endswith("/" + MARKER) and absolute(e) != _at(out, MARKER)
    ]
    owned = []
    for e in prev.entries:
        a = absolute(e)
        if any(within(a, absolute(n)) for n in nested) or os.path.islink(a):
            continue
        if prev.owns(a):
            owned.append(e)
    return owned


def refuse_foreign(output: str, foreign: list[str], why: str) -> None:
    base = output.rstrip("/") + "/" if is_s3(output) else os.path.abspath(output) + os.sep
    names = [e[len(base) :] if e.startswith(base) else e for e in foreign]
    shown = ", ".join(names[:SHOW_FOREIGN])
    more = f" and {len(names) - SHOW_FOREIGN} more" if len(names) > SHOW_FOREIGN else ""
    raise OutputError(
        f"{output}: {why} ({shown}{more}); seqray never removes or overwrites files it did "
        "not write: move them away or choose another output"
    )


def check_replaceable(prev: Previous) -> list[str]:
    """The previous run's files, when they are all that is there (else a refusal naming
    the others)."""
    owned = owned_entries(prev)
    foreign = sorted(set(prev.entries) - set(owned))
    if foreign:
        refuse_foreign(
            prev.output,
            foreign,
            "--overwrite replaces only a seqray run, but this output also holds files "
            "that run did not write",
        )
    return owned


def clear_previous(prev: Previous) -> int:
    """Removes the previous run's files (`--overwrite`): all of them or, when anything
    else is there, none. The manifest goes first, so a half-cleared run never looks
    finished, and the marker last, so it is still a run until then. Returns how many
    files were removed."""
    owned = check_replaceable(prev)
    manifest = _at(prev.output, MANIFEST)
    marker = _at(prev.output, MARKER)
    first = [e for e in owned if absolute(e) == manifest]
    last = [e for e in owned if absolute(e) == marker]
    middle = [e for e in owned if e not in first and e not in last]
    removed = _remove(first + middle) + remove_stale_temporaries(prev, [])
    removed += _remove(last)
    return removed


def discard_finished_run(output: str) -> int:
    """Removes a finished run's own record (its manifest and `_seqray/`) and the directory
    then left empty, keeping every file the run wrote: for a command whose products are
    files named by the user elsewhere (`seqray qc -o`), so no run directory stays beside
    them. Refused, nothing removed, when the directory holds anything else (a product of
    the run, or a file that is not the run's). Returns how many files were removed."""
    prev = inspect_output(output)
    if prev.state != "complete":
        raise OutputError(f"{output}: holds no finished seqray run")
    out = absolute(output)
    record = [
        e
        for e in prev.entries
        if absolute(e) == _at(out, MANIFEST) or within(absolute(e), _at(out, STATE_DIR))
    ]
    kept = sorted(set(prev.entries) - set(record))
    if kept:
        refuse_foreign(output, kept, "the run's record is kept: the directory holds more")
    marker = _at(out, MARKER)
    return _remove([e for e in record if absolute(e) != marker]) + _remove(
        [e for e in record if absolute(e) == marker]
    )


def remove_stale_temporaries(prev: Previous, targets: list[Target]) -> int:
    """Half-written files of a killed run: hidden temporaries beside the names it owns,
    in the output and beside its (and the new run's) file targets outside it."""
    stale = [e for e in prev.entries if _temporary_root(e, prev.output) and prev.owns(e)]
    out = absolute(prev.output)
    for t in [*targets, *prev.targets]:
        if t.kind != "file" or is_s3(t.uri) or within(absolute(t.uri), out):
            continue
        d, b = os.path.split(absolute(t.uri))
        if os.path.isdir(d):
            stale += [os.path.join(d, n) for n in os.listdir(d) if n.startswith(f".{b}.tmp-")]
    return _remove(stale)


def _remove(uris: Iterable[str]) -> int:
    """Deletes files, then the local directories they leave empty (up to the output: a
    directory the user left empty, that held nothing removed, stays)."""
    n = 0
    parents: set[str] = set()
    for u in uris:
        fs, path = filesystem_for(u)
        try:
            fs.delete_file(path)
            n += 1
        except FileNotFoundError:
            continue
        if not is_s3(u):
            parents.add(os.path.dirname(path))
    for d in sorted(parents, key=len, reverse=True):
        while True:
            try:
                os.rmdir(d)  # only when empty
            except OSError:
                break
            d = os.path.dirname(d)
    return n


def check_targets_free(targets: list[Target], prev: Previous) -> None:
    """A file target may replace an existing file only when the run there wrote it (and,
    outside the output, it is unchanged since): a report or `files` output of the run
    being resumed or replaced, never a file a user put where the run writes."""
    for t in targets:
        if t.kind == "file" and exists(t.uri) and not prev.owns(t.uri):
            raise OutputError(
                f"{t.uri}: {t.stage} would replace this file, which no seqray run at "
                f"{prev.output} wrote (or it changed since): remove it or choose another name"
            )


# -- claiming an output for a run ------------------------------------------------------------


@dataclass
class Claim:
    """The output, made ready for a run: what was there, and what a resume may skip."""

    previous: Previous
    done: dict[str, dict] = field(default_factory=dict)  # verified journaled chunks
    verified: int | None = None  # `--resume` of a finished run: its files, all intact


def claim_output(
    output: str,
    targets: list[Target],
    header: dict,
    *,
    resume: bool,
    overwrite: bool,
    before_write: Callable[[], None] | None = None,
) -> Claim:
    """Checks the output before anything is read, then clears a replaced run (`overwrite`)
    or picks up an interrupted one (`resume`), and writes the run marker. `before_write`
    runs the caller's own checks once the output is known to be claimable, before it is
    changed (not for a finished run, which `resume` only verifies)."""
    outer = enclosing_run(output)
    if outer is not None:
        raise OutputError(
            f"{output}: lies inside the output of the seqray run at {outer}; choose an "
            "output outside it"
        )
    prev = inspect_output(output)
    journal = Journal(output)
    if prev.state == "foreign":
        refuse_foreign(output, prev.entries, "the output is not empty and holds no seqray run")
    if prev.state == "complete":
        if resume:
            journal.check_header(header)
            return Claim(prev, verified=verify_finished(prev))
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
    if overwrite and prev.state != "empty":
        check_replaceable(prev)  # before anything else: name what is in the way
    check_writable(targets)  # writes nothing locally (an S3 probe is removed at once)
    check_targets_free(targets, prev)
    if before_write is not None:
        before_write()
    if resume and prev.state == "partial":
        journal.check_header(header)
        remove_stale_temporaries(prev, targets)
        return Claim(prev, journal.verified(prev.journal))
    if prev.state != "empty":
        clear_previous(prev)
    journal.start(header)
    return Claim(prev)


def verify_finished(prev: Previous) -> int:
    """Every file a finished run's manifest lists is there, unchanged; returns how many
    (each file of a directory shard counted)."""
    assert prev.manifest is not None  # a finished run is one with a manifest
    listed = [s for key in ("shards", "files", "rejects") for s in prev.manifest.get(key, [])]
    for entry in listed:
        bad = damaged_file(entry)
        if bad is not None:
            raise OutputError(
                f"{prev.output}: the finished run there is damaged: {bad} is missing "
                "or changed since it was written; use --overwrite to run it again"
            )
    return sum(len(shard_files(e)) for e in listed)  # files: a directory shard's each
