"""The JSON array fast path (a byte scan for the elements, DuckDB over them) against the Python reader.

Each case reads a file twice - with the fast path, and with ``formats.FAST_JSON`` off (the Python
reader, the reference) - and compares the rows, their ``_row`` numbers (element numbers), the
rejects, the counts, and, for a file the reader refuses, the error. Some tests also check that
plain files really are read by DuckDB (few elements decoded by Python), so the fast path cannot
pass by falling back everywhere.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockgate import formats, formats_fast
from lockgate.formats import ROW_COLUMN, ReadSettings, SourceFileError, count_records
from tests.unit.test_formats_fast_ndjson import read_all, zstd_compress  # the same reading helpers

COLS = ["id", "name", "value"]
ANY = ReadSettings(allow_empty=True, max_undecodable_percent=100)


def outcome(path: Path, columns: list[str], **kwargs: Any) -> Any:
    """What reading and counting the file give: (rows, rejects, count), or the error's message."""
    count_kwargs = {k: v for k, v in kwargs.items() if k in ("encoding", "settings")}
    try:
        rows, rejects = read_all(path, columns, **kwargs)
    except SourceFileError as exc:
        return f"read: {exc}"
    try:
        count = count_records(path, **count_kwargs)
    except SourceFileError as exc:
        return f"count: {exc}"
    assert count == len(rows) + len(rejects)
    return rows, rejects, count


def both_ways(path: Path, monkeypatch: pytest.MonkeyPatch, columns: list[str] = COLS, **kwargs: Any) -> Any:
    """Read with the fast path and with the Python reader; assert they agree and return the outcome."""
    fast = outcome(path, columns, **kwargs)
    with monkeypatch.context() as m:
        m.setattr(formats, "FAST_JSON", False)
        exact = outcome(path, columns, **kwargs)
    assert fast == exact
    return fast


def decoded_by_python(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The element numbers the Python reader decodes from now on (the fast path's fallbacks)."""
    seen: list[int] = []
    original = formats._json_record

    def spy(name: str, number: int, *args: Any) -> None:
        seen.append(number)
        original(name, number, *args)

    monkeypatch.setattr(formats, "_json_record", spy)
    return seen


LAYOUTS = {
    "compact": ("[", ",", "]"),
    "dumps": ("[", ", ", "]"),
    "lines": ("[\n", ",\n", "\n]\n"),
    "crlf_indented": ("[\r\n  ", ",\r\n  ", "\r\n]\r\n"),
    "leading_commas": ("[ ", "\n, ", " ]"),
}


def array(elements: list[str], layout: str = "lines") -> bytes:
    head, sep, tail = LAYOUTS[layout]
    return (head + sep.join(elements) + tail).encode("utf-8", "surrogatepass")


ELEMENTS: dict[str, list[str]] = {
    "plain": ['{"id":1,"name":"a","value":2.5}', '{"id":2,"name":"b","value":3}'],
    "numbers": [
        f'{{"id":{i},"name":"n","value":{v}}}'
        for i, v in enumerate(
            [
                *("1.50", "1e5", "1E5", "-0", "-0.0", "0.0001", "1e-05", "1e16", "123456789012345678901234567890"),
                *("-9223372036854775809", "1.7976931348623157e308", "1e400", "-1e400", "1e-400", "123.456789012345678"),
                *("5e-324", "1" * 320 + ".5", "NaN", "Infinity", "-Infinity", "true", "false", "null"),
            ],
            start=1,
        )
    ],
    "pretty_printed": [
        json.dumps({"id": i, "name": f"n, {i}", "value": [i, {"k": None}] if i % 3 == 0 else i / 7}, indent=2)
        for i in range(1, 20)
    ],
    "repeated_keys": [
        '{"id":1,"name":"a","value":2}',
        '{"id":2,"name":"a","name":"b","value":3}',
        '{"id":3,"name":"a","value":3,"unit":"x","unit":"y"}',
        '{"id":4,"name":"a","value":{"k":1,"k":2}}',
        '{"id":5,"name":"a","value":3}',
    ],
    "non_objects": ['{"id":1,"name":"a","value":2}', "7", '"text"', "null", "[1, 2]", "[]", "{}", "true", "-1.5e3"],
    "unicode_and_escapes": [
        '{"id":1,"name":"caf\\u00e9 \\"q\\" \\\\ \\/ \\n\\t","value":"\\ud83d\\ude00"}',
        '{"id":2,"name":"é€😀","value":"a,b]}"}',
        '{"id":3,"name":"\\\\","value":"\\\\\\""}',
        '{"id":4,"name":"\\u2028\\u2029","value":"[{\\""}',
        '{"id":5,"name":"\\ud800","value":1}',
        '{"\\u0069d":6,"name":"escaped key","value":1}',
        '{"id":7,"name":"a\\u002cb","value":1,"x":1}',
    ],
    "missing_and_extra_keys": [
        '{"id":1,"name":"a","value":2}',
        '{"id":2,"value":3}',
        '{"id":3,"name":"c","value":4,"extra":"x"}',
        '{"ID":4,"name":"d","value":5}',
        '{"value":6,"name":"f","id":6}',
        '{"id":7,"ID":8,"name":"g","value":7}',
    ],
}

#: whole files, each a way a JSON array file can start, end or break
FILES: dict[str, bytes] = {
    "bom": b'\xef\xbb\xbf[{"id":1,"name":"Zo\xc3\xab","value":2}]',
    "bom_and_whitespace": b'\xef\xbb\xbf \r\n\t[ {"id":1} ]',
    "empty_array": b"[ ]",
    "empty_array_spread": b"\n[\n\n]\n",
    "zero_bytes": b"",
    "whitespace_only": b" \n\t ",
    "text_after_the_array": b'[{"id":1,"name":"a"}] trailing junk, {"id": 2}',
    "no_closing_bracket": b'[{"id":1,"name":"a"},\n{"id":2,"name":"b"}\n',
    "no_closing_bracket_after_a_comma": b'[{"id":1,"name":"a"},',
    "trailing_comma": b'[{"id":1},{"id":2},]',
    "leading_comma": b'[,{"id":1}]',
    "double_comma": b'[{"id":1},,{"id":2}]',
    "missing_comma": b'[{"id":1} {"id":2}]',
    "an_object_not_an_array": b'{"id":1,"name":"a"}',
    "a_scalar": b"42",
    "nan_literal_python_reads": b'[{"id":1,"name":"a","value":NaN},{"id":2,"name":"b","value":-Infinity}]',
    "nan_lowercase_python_rejects": b'[{"id":1,"name":"a","value":1},{"id":2,"name":"b","value":nan}]',
    "trailing_comma_in_an_object": b'[{"id":1,"name":"a","value":1},{"id":2,"name":"b","value":1,}]',
    "invalid_element": b'[{"id":1,"name":"a","value":1},{"id": ]',
    "unbalanced_brackets": b'[{"id":1,"name":"a","value":1]}, {"id":2}]',
    "unterminated_string": b'[{"id":1,"name":"a\\"]}',
    "raw_tab_in_a_string": b'[{"id":1,"name":"a","value":1},{"id":2,"name":"a\tb","value":1}]',
    "raw_newline_in_a_string": b'[{"id":1,"name":"a","value":1},\n{"id":2,"name":"a\nb","value":1}]',
    "undecodable": b'[{"id":1,"name":"a","value":2},{"id":2,"name":"\xfcber","value":3},{"id":3,"name":"c","value":4}]',
    "undecodable_between_elements": b'[{"id":1,"name":"a","value":2},\xff{"id":2,"name":"b","value":3}]',
    "number_at_the_end": b'[{"id":1},1.5e3]',
    "nested_arrays": b'[[{"id":1}],{"id":2,"value":[[],[{}]]}]',
    "form_feed_between_elements": b'[{"id":1},\x0c{"id":2}]',
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("case", sorted(ELEMENTS))
def test_elements_agree_with_python_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, layout: str
) -> None:
    path = tmp_path / f"{case}.json"
    path.write_bytes(array(ELEMENTS[case], layout))
    rows, rejects, count = both_ways(path, monkeypatch, settings=ANY)
    assert count == len(ELEMENTS[case])
    if case == "numbers":
        assert [r["value"] for r in rows][:9] == [
            "1.5",
            "100000.0",
            "100000.0",
            "0",
            "-0.0",
            "0.0001",
            "1e-05",
            "1e+16",
            "123456789012345678901234567890",
        ]
        assert {r["id"]: r["value"] for r in rows}["12"] == "inf"
        assert {r["id"]: r["value"] for r in rows}["18"] == "nan"
    if case == "repeated_keys":
        assert [r["id"] for r in rows] == ["1", "5"]
        assert [(r.row, r.column) for r in rejects] == [(2, "name"), (3, None), (4, None)]
    if case == "pretty_printed":
        assert rows[2]["value"] == '[3, {"k": null}]'
        assert rows[2]["name"] == "n, 3"
        assert rows[0] == {"id": "1", "name": "n, 1", "value": repr(1 / 7), ROW_COLUMN: 1}
    if case == "non_objects":
        assert [r[ROW_COLUMN] for r in rows] == [1, 7]
        assert [r.row for r in rejects] == [2, 3, 4, 5, 6, 8, 9]
    if case == "unicode_and_escapes":
        assert [r.row for r in rejects] == [5]
        assert rows[1]["value"] == "a,b]}"
        assert rows[3]["value"] == '[{"'


@pytest.mark.parametrize("case", sorted(FILES))
@pytest.mark.parametrize("compression", ["", ".gz", ".zst"])
def test_files_agree_with_python_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, compression: str
) -> None:
    data = FILES[case]
    packed = {"": data, ".gz": gzip.compress(data), ".zst": zstd_compress(data)}[compression]
    path = tmp_path / f"{case}.json{compression}"
    path.write_bytes(packed)
    result = both_ways(path, monkeypatch, settings=ANY)
    refused = {
        "no_closing_bracket": "element 3: expected ',' or ']'",
        "no_closing_bracket_after_a_comma": "element 2: invalid JSON",
        "trailing_comma": "element 3: invalid JSON",
        "leading_comma": "element 1: invalid JSON",
        "double_comma": "element 2: invalid JSON",
        "missing_comma": "element 2: expected ',' or ']'",
        "an_object_not_an_array": "row 1: expected a JSON array",
        "a_scalar": "row 1: expected a JSON array",
        "nan_lowercase_python_rejects": "element 2: invalid JSON",
        "trailing_comma_in_an_object": "element 2: invalid JSON",
        "invalid_element": "element 2: invalid JSON",
        "unbalanced_brackets": "element 1: invalid JSON",
        "unterminated_string": "element 1: invalid JSON",
        "raw_tab_in_a_string": "element 2: invalid JSON",
        "raw_newline_in_a_string": "element 2: invalid JSON",
        "undecodable_between_elements": "element 2: invalid JSON",
        "form_feed_between_elements": "element 2: invalid JSON",
    }
    if case in refused:
        assert isinstance(result, str), result
        assert refused[case] in result
        return
    assert not isinstance(result, str), result
    rows, rejects, count = result
    if case == "text_after_the_array":
        assert (rows, count) == ([{"id": "1", "name": "a", "value": None, ROW_COLUMN: 1}], 1)
    if case == "nan_literal_python_reads":
        assert [r["value"] for r in rows] == ["nan", "-inf"]
    if case == "undecodable":
        assert [r.row for r in rejects] == [2]
        assert "undecodable byte(s) \\xfc at byte offset 47" in rejects[0].reason
        assert [r["id"] for r in rows] == ["1", "3"]
    if case.startswith(("empty", "zero", "whitespace")):
        assert count == 0


def test_plain_files_are_read_by_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps([{"id": i, "name": f"n{i}", "value": i * 0.1} for i in range(1, 2001)]))
    python = decoded_by_python(monkeypatch)
    rows, rejects = read_all(path, COLS)
    assert (len(rows), rejects) == (2000, [])
    assert python == []  # DuckDB read every element (the template element is decoded apart)
    assert rows[2] == {"id": "3", "name": "n3", "value": "0.30000000000000004", ROW_COLUMN: 3}
    path.write_text(json.dumps([{"id": i, "name": "a", "value": [i]} for i in range(1, 101)], indent=4))
    python.clear()
    rows, _ = read_all(path, COLS)
    assert python == list(range(1, 101))  # a nested value: every element by Python, none lost
    assert rows[-1] == {"id": "100", "name": "a", "value": "[100]", ROW_COLUMN: 100}


def test_only_the_doubtful_elements_fall_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = [json.dumps({"id": i, "name": "a", "value": i}) for i in range(1, 101)]
    good[9] = '{"id":10,"name":"a","value":NaN}'
    good[49] = "50"
    good[79] = '{"id":80,"name":"a,b","value":80,"x":1}'  # another key: Python
    path = tmp_path / "d.json"
    path.write_bytes(array(good))
    python = decoded_by_python(monkeypatch)
    rows, rejects = read_all(path, COLS)
    assert python == [10, 50, 80]
    assert [r.row for r in rejects] == [50]
    by_row = {r[ROW_COLUMN]: r for r in rows}
    assert by_row[10]["value"] == "nan"
    assert by_row[80] == {"id": "80", "name": "a,b", "value": "80", ROW_COLUMN: 80}


def test_many_buffers_rejects_and_a_handover(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small buffers: numbering across them, an element longer than a buffer, and bytes that are
    not UTF-8 handing the rest of the file to Python (byte offsets counted from the file's start)."""
    elements = []
    for i in range(1, 3001):
        if i % 97 == 0:
            elements.append(b'{"id":%d,"name":"bad","name":"x"}' % i)
        elif i == 1200:
            elements.append(b'{"id":1200,"name":"%s","value":1}' % (b"long " * 400))
        else:
            elements.append(b'{"id":%d,"name":"n","value":%d.50}' % (i, i))
    elements[2500] = b'{"id":2501,"name":"\xff","value":1}'
    path = tmp_path / "many.json.gz"
    path.write_bytes(gzip.compress(b"[\n" + b",\n".join(elements) + b"\n]\n"))
    monkeypatch.setattr(formats_fast, "BLOCK_BYTES", 1000)
    rows, rejects, count = both_ways(path, monkeypatch, batch_rows=700, settings=ANY)
    assert count == 3000
    assert [r.row for r in rejects if "undecodable" in r.reason] == [2501]
    assert len([r for r in rejects if "repeated" in r.reason]) == 3000 // 97
    assert rows[-1] == {"id": "3000", "name": "n", "value": "3000.5", ROW_COLUMN: 3000}
    offset = len(b"[\n" + b",\n".join(elements[:2500]) + b",\n") + len(b'{"id":2501,"name":"')
    assert f"at byte offset {offset}" in rejects[[r.row for r in rejects].index(2501)].reason


def test_oversized_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = "x" * 5000
    path = tmp_path / "o.json"
    path.write_text(
        json.dumps(
            [
                {"id": 1, "name": "a", "value": 1},
                {"id": 2, "name": big, "value": 2},
                {"id": 3, "name": "c", "value": 3, "other": big},
                {"id": 4, "name": "d", "value": 4},
            ]
        )
    )
    monkeypatch.setattr(formats_fast, "BLOCK_BYTES", 1024)
    rows, rejects, _ = both_ways(path, monkeypatch, settings=ReadSettings(max_field_bytes=4096))
    assert [r["id"] for r in rows] == ["1", "3", "4"]
    assert [(r.row, r.column) for r in rejects] == [(2, "name")]


def test_empty_arrays_are_refused_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for data in (b"[]", b" [ \n ] ", b"\xef\xbb\xbf[]"):
        path = tmp_path / "e.json"
        path.write_bytes(data)
        assert "is an empty JSON array" in both_ways(path, monkeypatch)


def test_mostly_undecodable_file_fails_on_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "latin.json"
    path.write_bytes(
        b'[{"id":1,"name":"a","value":1}' + (',{"id":2,"name":"Zürich","value":2}'.encode("latin-1") * 3) + b"]"
    )
    for fast in (True, False):
        monkeypatch.setattr(formats, "FAST_JSON", fast)
        with pytest.raises(SourceFileError, match=r"3 of 4 records .* are not valid utf-8"):
            read_all(path, COLS)


def test_hostile_corpus_json_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hostile corpus's JSON array files, and its NDJSON files as arrays, read alike."""
    from tests.hostile.test_corpus import CASES

    columns = ["station_id", "ts", "region", "pollutant", "value", "unit"]
    seen = 0
    for name, make in sorted(CASES.items()):
        case = make()
        base = case.file.removesuffix(".gz")
        if base.endswith(".json"):
            data = case.data
        elif base.endswith(".ndjson") and not case.file.endswith(".gz"):
            data = b"[" + b",\n".join(x for x in case.data.splitlines() if x.strip()) + b"]"
        else:
            continue
        seen += 1
        path = tmp_path / f"{name}.json"
        path.write_bytes(data)
        both_ways(path, monkeypatch, columns, settings=ANY)
    assert seen >= 8


# ------------------------------------------------------------------------------------ differential

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.text(alphabet=',a"\\ :{}[]\u002c\n', max_size=6),  # commas, quotes, escapes, brackets in strings
    st.sampled_from(["nan", "Infinity", "1.50", "{x}", "[", "a,b", "-inf", "1e400", "\\", '"]']),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=5,
)
_records = st.dictionaries(st.sampled_from(["id", "name", "value", "other", "ID", "a,b"]), _values, max_size=5)
_raw_numbers = st.sampled_from(["1.50", "1E5", "-0", "1e-400", "2e308", "0.1e1", "12345678901234567890123", "-0.0e0"])


@st.composite
def _elements(draw: st.DrawFn) -> str:
    record: Any = draw(_records | st.just({"id": 1, "name": "x", "value": 2}))
    if draw(st.integers(0, 9)) == 0:
        record = draw(_values)  # not an object
    text = json.dumps(
        record,
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, None, 2])),
        separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])),
    )
    if isinstance(record, dict) and record and draw(st.integers(0, 7)) == 0:
        key = draw(st.sampled_from(sorted(record)))
        body = text.strip()[1:-1]
        text = draw(
            st.sampled_from(
                [
                    "{" + body + ", " + json.dumps(key) + ": 1}",  # a repeated key
                    "{" + body + ', "value": NaN}',
                    "{" + json.dumps(key) + ": " + draw(_raw_numbers) + "}",
                    "  " + text + "\t",
                    "{" + body + ', "other": -inf}',  # Python refuses the file
                    "{" + body + ",}",  # Python refuses the file
                    text[: draw(st.integers(0, len(text)))],  # cut short
                    text + " 1",  # two values
                ]
            )
        )
    return text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(_elements(), max_size=40),
    st.sampled_from(sorted(LAYOUTS)),
    st.sampled_from([64, 256, 8 << 20]),
    st.sampled_from(["", ".gz"]),
)
def test_differential_generated_arrays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, elements: list[str], layout: str, block: int, compression: str
) -> None:
    path = tmp_path / f"h.json{compression}"
    data = array(elements, layout)
    path.write_bytes(gzip.compress(data) if compression else data)
    with monkeypatch.context() as m:
        m.setattr(formats_fast, "BLOCK_BYTES", block)
        result = both_ways(path, m, settings=ANY)
    if not isinstance(result, str):
        assert result[2] == len([e for e in elements if e.strip()])  # ([""] is the empty array)
    else:
        assert re.search(r"(element \d+|row 1): ", result), result


def _separators(text: str) -> tuple[list[int], int]:
    """Where the commas between a JSON array's elements and its closing bracket are (Python's walk)."""
    decoder = json.JSONDecoder()
    pos, commas = 1, []
    while True:
        while text[pos] in " \t\r\n":
            pos += 1
        if text[pos] == "]":
            return commas, pos
        if text[pos] == ",":
            commas.append(pos)
            pos += 1
            continue
        _, pos = decoder.raw_decode(text, pos)


@settings(max_examples=300, deadline=None)
@given(st.lists(_values, max_size=12), st.sampled_from([None, 1]), st.booleans())
def test_the_byte_scan_finds_the_elements_python_finds(elements: list[Any], indent: int | None, ascii: bool) -> None:
    """On valid JSON the scan cuts exactly where Python's decoder does (strings with quotes,
    backslash runs, brackets and commas inside them), so plain files never fall back for it."""
    import numpy as np

    text = json.dumps(elements, indent=indent, ensure_ascii=ascii) + " ] junk, [ {"
    buf = text.encode("utf-8", "surrogatepass")[1:]  # the scan starts inside the array
    commas, close = formats_fast._array_structure(np.frombuffer(buf, np.uint8), buf)
    expected, end = _separators(text)
    in_bytes = [len(text[:p].encode("utf-8", "surrogatepass")) - 1 for p in [*expected, end]]
    assert [*commas.tolist(), close] == in_bytes


def test_the_file_is_streamed_in_buffers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory stays bounded: no buffer holds much more than a block, however long the file."""
    path = tmp_path / "s.json.gz"
    path.write_bytes(gzip.compress(array([json.dumps({"id": i, "name": "n", "value": i}) for i in range(20_000)])))
    sizes: list[int] = []
    read = formats_fast._Elements.read

    def spy(self: Any) -> bytes | None:
        buf = read(self)
        sizes.append(len(buf or b""))
        return buf

    monkeypatch.setattr(formats_fast, "BLOCK_BYTES", 4096)
    monkeypatch.setattr(formats_fast._Elements, "read", spy)
    rows, rejects = read_all(path, COLS)
    assert (len(rows), rejects) == (20_000, [])
    assert len(sizes) > 100
    assert max(sizes) < 2 * 4096


def test_undecodable_elements_are_rejected_without_a_handover(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An element with bytes that are not UTF-8 inside its strings is rejected on its own (bytes,
    byte offset, element number as the Python reader gives them); the elements after it stay fast."""
    elements = [b'{"id":%d,"name":"n","value":%d}' % (i, i) for i in range(1, 1001)]
    for i in range(9, 1000, 50):
        elements[i] = b'{"id":%d,"name":"Z\xfcrich \xe2\x82","value":1}' % (i + 1)
    elements[500] = b'{"id":501,"\xff":"key","value":1}'
    path = tmp_path / "u.json"
    path.write_bytes(b"[\n" + b",\n".join(elements) + b"\n]")
    monkeypatch.setattr(formats_fast, "BLOCK_BYTES", 2000)
    handed_over: list[Any] = []
    exact = formats._json_array_elements
    monkeypatch.setattr(formats, "_json_array_elements", lambda *a, **k: handed_over.append(a) or exact(*a, **k))
    read_all(path, COLS, settings=ANY)
    assert handed_over == []
    rows, rejects, count = both_ways(path, monkeypatch, settings=ANY)
    assert count == 1000
    assert [r.row for r in rejects] == sorted([*range(10, 1001, 50), 501])
    second = rejects[1]
    offset = len(b"[\n" + b",\n".join(elements[:59]) + b",\n") + len(b'{"id":60,"name":"Z')
    assert f"undecodable byte(s) \\xfc at byte offset {offset}" in second.reason
    assert second.raw == '{"id":60,"name":"Z\\xfcrich \\xe2\\x82","value":1}'
    assert rows[-1][ROW_COLUMN] == 1000


def test_a_truncated_gzip_is_unreadable_on_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.json.gz"
    packed = gzip.compress(array([json.dumps({"id": i, "name": "n", "value": i}) for i in range(5000)]))
    path.write_bytes(packed[: len(packed) // 2])
    assert "unreadable" in both_ways(path, monkeypatch)
