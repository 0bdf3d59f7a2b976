"""Label files read like transaction files: streamed, each row validated, bad rows kept whole."""

from __future__ import annotations

from pathlib import Path

from rtad.common.label_files import read_labels
from rtad.common.labels import InvalidLabel, Label


def test_csv_rows_keep_their_text_and_line_and_a_bom_is_no_column_name(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.csv"
    path.write_bytes(
        b"\xef\xbb\xbftransaction_id,user_id,verdict,source\r\n"
        b't1,u1,fraud,"analyst\r\nsaid so"\r\n'  # a quoted cell over two lines: one record
        b"t2,u2,genuine,analyst\r\n"
        b"t3,u\xe9,fraud,analyst\r\n"  # not UTF-8
        b"t4,u4,fraud,analyst,extra\r\n"
    )
    items = list(read_labels(path))
    assert [line for line, _, _ in items] == [2, 4, 5, 6]
    (_, raw1, bad1), (_, _, good), (_, raw3, bad3), (_, raw4, bad4) = items
    assert raw1 == b't1,u1,fraud,"analyst\r\nsaid so"' and isinstance(bad1, InvalidLabel)
    assert "source" in str(bad1)
    assert isinstance(good, Label) and good.transaction_id == "t2"
    assert raw3 == b"t3,u\xe9,fraud,analyst" and "UTF-8" in str(bad3)
    assert raw4 == b"t4,u4,fraud,analyst,extra" and "columns" in str(bad4)
