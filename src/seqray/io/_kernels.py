"""Numba kernels that scan FASTQ/FASTA text and gather records into Arrow buffers.

The scanners only find record boundaries (one pass over the bytes, no copies); the gather
kernels then copy fields into contiguous Arrow value buffers through a 256-entry lookup
table that normalises and validates each byte in the same pass.

Scanner output rows (int64, one per record) are
    FASTQ: header_start, header_end, seq_start, seq_end, qual_start, qual_end, status
    FASTA: header_start, header_end, body_start, body_end, 0, 0, status
positions are buffer indices, ends exclusive and without the line terminator; `status` is 0
for a good record and an error code otherwise (then columns 0/1 hold the bad region and
column 2 the line within the record where the problem was found).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._swar import dna_span, qual_span

# Scanner stop reasons
DONE = 0  # reached the end of the owned range (or of the data at EOF)
FULL = 1  # out rows or the bases budget used up; call again from the returned position
NEED_MORE = 2  # the record at the returned position is incomplete: supply more data
FATAL = 3  # an error record was emitted and leniency is off
BAIL = 4  # (statistics scan) something only the full reader handles: read the chunk again

# Error codes
E_HEADER = 1  # FASTQ header line does not start with '@' / FASTA text before '>'
E_TRUNCATED = 2  # file ends inside a record
E_PLUS = 3  # FASTQ third line does not start with '+'
E_LENGTH = 4  # sequence and quality lengths differ
E_CONTENT = 5  # a byte not allowed in a field (found while gathering; message made there)

ERROR_MESSAGES = {
    E_HEADER: "expected a record header starting with '{marker}'",
    E_TRUNCATED: "truncated record: file ends inside the record",
    E_PLUS: "expected a '+' separator line",
    E_LENGTH: "sequence and quality lengths differ",
}

NCOLS = 7
LF = 10
CR = 13


@njit(cache=True, nogil=True, inline="always")
def _line_end(buf, p, n):
    while p < n and buf[p] != LF:
        p += 1
    return p


@njit(cache=True, nogil=True, inline="always")
def _strip_cr(buf, start, end):
    if end > start and buf[end - 1] == CR:
        return end - 1
    return end


@njit(cache=True, nogil=True)
def _blank_to_end(buf, p, n):
    while p < n:
        c = buf[p]
        if c != LF and c != CR and c != 32 and c != 9:
            return False
        p += 1
    return True


@njit(cache=True, nogil=True)
def fastq_resync(buf, p, eof):
    """First record start at or after line start `p`: a line starting with '@' whose
    third line starts with '+' and whose 2nd and 4th lines have equal length. A quality
    line starting with '@' fails this test because the line two below it is a sequence.
    Returns -1 if no record starts in the data (at EOF), -2 if more data is needed."""
    n = len(buf)
    while p < n:
        e0 = _line_end(buf, p, n)
        if buf[p] == 64:
            e1 = _line_end(buf, e0 + 1, n) if e0 < n else n
            e2 = _line_end(buf, e1 + 1, n) if e1 < n else n
            if e2 >= n and not eof:
                return -2
            if e1 < n and e1 + 1 < n and buf[e1 + 1] == 43:
                e3 = _line_end(buf, e2 + 1, n) if e2 < n else n
                if e3 >= n and not eof:
                    return -2
                s1 = _strip_cr(buf, e0 + 1, e1) - (e0 + 1)
                s3 = _strip_cr(buf, min(e2 + 1, n), e3) - min(e2 + 1, n)
                if s1 == s3:
                    return p
        if e0 >= n:
            return -2 if not eof else -1
        p = e0 + 1
    return -2 if not eof else -1


@njit(cache=True, nogil=True)
def fasta_resync(buf, p, eof):
    n = len(buf)
    while p < n:
        if buf[p] == 62:
            return p
        e0 = _line_end(buf, p, n)
        if e0 >= n:
            return -2 if not eof else -1
        p = e0 + 1
    return -2 if not eof else -1


@njit(cache=True, nogil=True)
def _emit_error(out, k, start, end, line, code):
    out[k, 0] = start
    out[k, 1] = end
    out[k, 2] = line
    out[k, 3] = 0
    out[k, 4] = 0
    out[k, 5] = 0
    out[k, 6] = code


@njit(cache=True, nogil=True)
def scan_fastq(buf, pos, owner_end, eof, out, max_bases, lenient):
    """Scan FASTQ records starting at `pos` while their start is < owner_end.

    Returns (records emitted, next position, stop reason, bases emitted)."""
    n = len(buf)
    cap = out.shape[0]
    k = 0
    bases = 0
    while k < cap:
        if bases >= max_bases:
            return k, pos, FULL, bases
        if pos >= owner_end or pos >= n:
            return k, pos, DONE, bases
        rec = pos
        e0 = _line_end(buf, pos, n)
        if e0 >= n and not eof:
            return k, rec, NEED_MORE, bases
        code = 0
        line = 0
        if buf[pos] != 64:
            if eof and _blank_to_end(buf, pos, n):
                return k, n, DONE, bases
            if buf[pos] == LF or buf[pos] == CR:
                # blank lines between records are tolerated, as seqkit and fastp do
                if _blank_to_end(buf, pos, e0 + 1 if e0 < n else n):
                    pos = e0 + 1
                    continue
            code = 1
        if code == 0:
            if e0 >= n:
                code = 2
                line = 1
        if code == 0:
            e1 = _line_end(buf, e0 + 1, n)
            if e1 >= n and not eof:
                return k, rec, NEED_MORE, bases
            if e1 >= n:
                code = 2
                line = 1
        if code == 0:
            e2 = _line_end(buf, e1 + 1, n)
            if e2 >= n and not eof:
                return k, rec, NEED_MORE, bases
            if e1 + 1 >= n or buf[e1 + 1] != 43:
                code = 3 if e1 + 1 < n else 2
                line = 2
        if code == 0:
            if e2 >= n:
                # '+' line is the last line: the quality line is missing
                code = 2
                line = 3
        if code == 0:
            e3 = _line_end(buf, e2 + 1, n)
            if e3 >= n and not eof:
                return k, rec, NEED_MORE, bases
            s_end = _strip_cr(buf, e0 + 1, e1)
            q_end = _strip_cr(buf, e2 + 1, e3)
            if s_end - (e0 + 1) != q_end - (e2 + 1):
                if e3 >= n and q_end - (e2 + 1) < s_end - (e0 + 1):
                    code = 2
                else:
                    code = 4
                line = 3
            else:
                out[k, 0] = rec + 1
                out[k, 1] = _strip_cr(buf, rec + 1, e0)
                out[k, 2] = e0 + 1
                out[k, 3] = s_end
                out[k, 4] = e2 + 1
                out[k, 5] = q_end
                out[k, 6] = 0
                bases += s_end - (e0 + 1)
                k += 1
                pos = e3 + 1 if e3 < n else n
                continue
        # an error record
        if not lenient:
            _emit_error(out, k, rec, min(e0, n), line, code)
            return k + 1, rec, FATAL, bases
        # resynchronise from the line after the bad header, whatever the error: a
        # record start swallowed by the bad record is found again, as a chunk would
        nxt = fastq_resync(buf, e0 + 1 if e0 < n else n, eof)
        if nxt == -2:
            return k, rec, NEED_MORE, bases
        if nxt == -1:
            nxt = n
        _emit_error(out, k, rec, nxt, line, code)
        k += 1
        pos = nxt
    return k, pos, FULL, bases


@njit(cache=True, nogil=True)
def scan_fasta(buf, pos, owner_end, eof, out, max_bases, lenient):
    """Scan FASTA records (multi-line bodies) starting at `pos` while start < owner_end."""
    n = len(buf)
    cap = out.shape[0]
    k = 0
    bases = 0
    while k < cap:
        if bases >= max_bases:
            return k, pos, FULL, bases
        if pos >= owner_end or pos >= n:
            return k, pos, DONE, bases
        rec = pos
        if buf[pos] != 62:
            if eof and _blank_to_end(buf, pos, n):
                return k, n, DONE, bases
            e0 = _line_end(buf, pos, n)
            if e0 >= n and not eof:
                return k, rec, NEED_MORE, bases
            if buf[pos] == 59 or _blank_to_end(buf, pos, e0):
                # ';' comment lines and blank lines outside records are skipped
                pos = e0 + 1 if e0 < n else n
                continue
            nxt = fasta_resync(buf, pos, eof)
            if nxt == -2:
                return k, rec, NEED_MORE, bases
            if nxt == -1:
                nxt = n
            _emit_error(out, k, rec, nxt, 0, 1)
            if not lenient:
                return k + 1, rec, FATAL, bases
            k += 1
            pos = nxt
            continue
        e0 = _line_end(buf, pos, n)
        if e0 >= n and not eof:
            return k, rec, NEED_MORE, bases
        body = e0 + 1 if e0 < n else n
        p = body
        # the body runs until a line starting with '>' or the end of the data
        while p < n and buf[p] != 62:
            e = _line_end(buf, p, n)
            if e >= n:
                p = n
                break
            p = e + 1
        if p >= n and not eof:
            return k, rec, NEED_MORE, bases
        out[k, 0] = rec + 1
        out[k, 1] = _strip_cr(buf, rec + 1, e0 if e0 < n else n)
        out[k, 2] = body
        out[k, 3] = p
        out[k, 4] = 0
        out[k, 5] = 0
        out[k, 6] = 0
        k += 1
        bases += p - body
        pos = p
    return k, pos, FULL, bases


@njit(cache=True, nogil=True)
def gather(buf, starts, ends, table, skip_newlines):
    """Copy buf[starts[i]:ends[i]] through `table` into one value buffer.

    table[b] < 0 marks an invalid byte (-2: a line terminator, dropped if skip_newlines).
    Returns (values, offsets, index of first bad record or -1, its bad byte position)."""
    if skip_newlines:
        return _gather_skipping(buf, starts, ends, table)
    m = len(starts)
    offsets = np.empty(m + 1, dtype=np.int64)
    offsets[0] = 0
    for i in range(m):
        offsets[i + 1] = offsets[i] + (ends[i] - starts[i])
    values = np.empty(offsets[m], dtype=np.uint8)
    for i in range(m):
        o = offsets[i] - starts[i]
        bad = 0
        # branch-free inner loop: validity is checked once per record
        for p in range(starts[i], ends[i]):
            v = table[buf[p]]
            values[o + p] = v
            bad |= v
        if bad < 0:
            for p in range(starts[i], ends[i]):
                if table[buf[p]] < 0:
                    return values[: offsets[i]], offsets, i, p
    return values, offsets, -1, -1


@njit(cache=True, nogil=True)
def _gather_skipping(buf, starts, ends, table):
    m = len(starts)
    offsets = np.empty(m + 1, dtype=np.int64)
    total = 0
    for i in range(m):
        total += ends[i] - starts[i]
    values = np.empty(total, dtype=np.uint8)
    o = 0
    offsets[0] = 0
    for i in range(m):
        for p in range(starts[i], ends[i]):
            v = table[buf[p]]
            if v >= 0:
                values[o] = v
                o += 1
            elif v != -2:
                offsets[i + 1] = o
                return values[:o], offsets, i, p
        offsets[i + 1] = o
    return values[:o], offsets, -1, -1


@njit(cache=True, nogil=True, inline="always")
def _header_ok(buf, start, end):
    """No control byte but TAB in buf[start:end] (so no LF either); vectorises."""
    bad = 0
    for p in range(start, end):
        v = buf[p]
        bad += ((v < 32) & (v != 9)) | (v == 127)
    return bad == 0


@njit(cache=True, nogil=True)
def scan_fastq_stats(buf, words, pos, owner_end, eof, out, max_bases, name_table, seq_table, qlo):
    """FASTQ records → statistics in one pass over the bytes, for statistics-only reads.

    Handles the plain case only: four LF-terminated lines, '@' and '+' where expected,
    equal lengths, every byte accepted. Anything else (CRLF, blank lines, errors, a
    truncated end) returns BAIL at that record so the full reader takes the chunk over.
    The fields are checked and counted eight bytes a word (`_swar`; `words` is `buf` as
    uint64). Line ends are
    first guessed from the previous record (same header and sequence lengths, the common
    case): the guess holds when a LF stands there and the check of the bytes before it
    finds no LF (a LF fails both the header's and the sequence's checks), so no byte loop
    runs; otherwise a byte loop finds the end. The quality line is not searched at all (its
    length is the sequence's). Rows: length, G+C, N, bases with Q >= 20, with Q >= 30."""
    n = len(buf)
    cap = out.shape[0]
    k = 0
    bases = 0
    hlen = -1  # the previous record's header and sequence lengths (the guesses)
    slen = -1
    while k < cap:
        if bases >= max_bases:
            return k, pos, FULL, bases
        if pos >= owner_end or pos >= n:
            return k, pos, DONE, bases
        rec = pos
        more = BAIL if eof else NEED_MORE
        if buf[pos] != 64:
            return k, rec, BAIL, bases
        e0 = pos + 1 + hlen
        if not (hlen >= 0 and e0 < n and buf[e0] == LF and _header_ok(buf, pos + 1, e0)):
            e0 = _line_end(buf, pos + 1, n)
            if e0 >= n:
                return k, rec, more, bases
            if not _header_ok(buf, pos + 1, e0):
                return k, rec, BAIL, bases
        bad = 0
        s0 = e0 + 1
        e1 = s0 + slen
        plain = False
        if slen >= 0 and e1 < n and buf[e1] == LF:
            plain, gc, nn = dna_span(buf, words, s0, e1)  # plain: no LF before e1 either
        if not plain:
            e1 = _line_end(buf, s0, n)
            if e1 >= n:
                return k, rec, more, bases
            plain, gc, nn = dna_span(buf, words, s0, e1)
        if not plain:
            # IUPAC codes, '.', or a refused byte: the reader's table decides
            gc = 0
            nn = 0
            for p in range(s0, e1):
                v = seq_table[buf[p]]
                bad |= v
                gc += (v == 71) | (v == 67)
                nn += v == 78
            if bad < 0:
                return k, rec, BAIL, bases
        length = e1 - s0
        p = e1 + 1
        if p >= n:
            return k, rec, more, bases
        if buf[p] != 43:
            return k, rec, BAIL, bases
        e2 = _line_end(buf, p, n)
        if e2 >= n:
            return k, rec, more, bases
        q0 = e2 + 1
        qe = q0 + length
        if qe > n or (qe == n and not eof):
            return k, rec, more, bases
        if qe < n and buf[qe] != LF:
            return k, rec, BAIL, bases
        badq, a, b = qual_span(buf, words, q0, qe, qlo)
        if badq:
            return k, rec, BAIL, bases
        out[k, 0] = length
        out[k, 1] = gc
        out[k, 2] = nn
        out[k, 3] = a
        out[k, 4] = b
        out[k, 5] = 0
        out[k, 6] = 0
        k += 1
        bases += length
        hlen = e0 - pos - 1
        slen = length
        pos = qe + 1 if qe < n else n
    return k, pos, FULL, bases
