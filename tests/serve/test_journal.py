"""The journal's crash points: a torn tail, a write never fsync'd, a kill mid-deletion, a
failed write; and what serve makes of a journal that is not one."""

import errno
import os

import pytest

from oom_enricher.serve.journal import Journal


def records(journal: Journal) -> list[tuple[int, bytes]]:
    return list(journal.recover())


def test_records_come_back_in_order_across_segments_and_positions_continue(tmp_path):
    journal = Journal(tmp_path, segment_bytes=64)
    assert records(journal) == []
    for n in range(10):
        assert journal.append([b"record %d" % n, b"\xe9\xff"]) == 2 * n
    journal.close()
    again = Journal(tmp_path, segment_bytes=64)
    got = records(again)
    assert [p for p, _ in got] == list(range(20))
    assert got[0] == (0, b"record 0") and got[1] == (1, b"\xe9\xff")
    assert again.segments > 1
    assert again.append([b"next"]) == 20


def test_torn_record_at_the_tail_is_cut_back_and_the_next_write_appends_cleanly(tmp_path):
    journal = Journal(tmp_path)
    records(journal)
    journal.append([b"a" * 100, b"b" * 100])
    journal.close()
    (segment,) = tmp_path.glob("*.seg")
    whole = segment.read_bytes()
    segment.write_bytes(whole[:-37])  # killed in the middle of writing the second record
    again = Journal(tmp_path)
    assert records(again) == [(0, b"a" * 100)]
    assert again.stats.torn_tails == 1
    assert again.append([b"c"]) == 1
    again.close()
    assert records(Journal(tmp_path)) == [(0, b"a" * 100), (1, b"c")]


def test_bytes_written_but_never_fsynced_read_as_garbage_fail_the_crc(tmp_path):
    journal = Journal(tmp_path)
    records(journal)
    journal.append([b"durable"])
    journal.close()
    (segment,) = tmp_path.glob("*.seg")
    header = segment.read_bytes()[:16]
    # After a power cut the file may keep a later length with zeroed or stale contents.
    with open(segment, "ab") as fh:
        fh.write(header[:4] + b"\0" * 12 + b"\0" * 7)
    again = Journal(tmp_path)
    assert records(again) == [(0, b"durable")]
    assert again.stats.torn_tails == 1


def test_a_kill_during_segment_deletion_leaves_a_valid_newer_suffix(tmp_path):
    journal = Journal(tmp_path, segment_bytes=40)
    records(journal)
    for n in range(8):
        journal.append([b"%d" % n * 30])
    assert journal.segments == 8
    assert journal.release(5) == 5  # segments starting at 0..4 lie wholly below 5
    assert [p for p, _ in records(Journal(tmp_path))] == [5, 6, 7]
    # the process died after unlinking only the oldest of the ones it meant to delete
    journal.close()
    os.unlink(sorted(tmp_path.glob("*.seg"))[0])
    again = Journal(tmp_path, segment_bytes=40)
    assert [p for p, _ in records(again)] == [6, 7]
    assert again.append([b"x"]) == 8


def test_release_keeps_the_segment_being_written(tmp_path):
    journal = Journal(tmp_path, segment_bytes=1 << 20)
    records(journal)
    journal.append([b"only"])
    assert journal.release(None) == 0
    assert journal.segments == 1


def test_a_failed_write_leaves_nothing_behind_and_hands_out_its_positions_again(
    tmp_path, monkeypatch
):
    journal = Journal(tmp_path)
    records(journal)
    journal.append([b"first"])
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        journal.append([b"lost"])
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert journal.append([b"second"]) == 1
    journal.close()
    assert records(Journal(tmp_path)) == [(0, b"first"), (1, b"second")]


def test_a_write_torn_by_a_full_disk_that_cannot_be_cut_back_loses_no_later_record(
    tmp_path, monkeypatch
):
    # The fault matrix's disk full: half a record reached the file, and cutting it back
    # failed too. A record acknowledged after it must not sit behind that hole.
    journal = Journal(tmp_path)
    records(journal)
    journal.append([b"first"])
    real_write, real_ftruncate = os.write, os.ftruncate

    def half_then_full(fd, data):
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    def refused(fd, length):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "write", half_then_full)
    monkeypatch.setattr(os, "ftruncate", refused)
    with pytest.raises(OSError):
        journal.append([b"torn" * 100])
    monkeypatch.setattr(os, "write", real_write)
    monkeypatch.setattr(os, "ftruncate", real_ftruncate)
    assert journal.append([b"second"]) == 1
    assert journal.append([b"third"]) == 2
    journal.close()
    again = Journal(tmp_path)
    assert records(again) == [(0, b"first"), (1, b"second"), (2, b"third")]
    assert again.segments == 2 and again.stats.torn_tails == 1
    assert again.append([b"fourth"]) == 3


def test_entries_that_are_not_segments_are_skipped_and_counted(tmp_path):
    (tmp_path / "00000000000000000000.seg").mkdir()  # a directory with a segment's name
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "00000000000000000007.seg").write_bytes(b"\x05\x00\x00garbage")
    journal = Journal(tmp_path)
    assert records(journal) == []
    assert journal.stats.skipped_files == 2 and journal.stats.torn_tails == 1
    assert journal.append([b"ok"]) == 7
