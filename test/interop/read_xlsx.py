"""Reads a workbook back with openpyxl (Debian's python3-openpyxl), an
independent reader, and prints what a spreadsheet user would see as JSON:
per sheet its name, frozen pane, autofilter, column widths and every cell
with its type, number format and boldness.

Usage: read_xlsx.py FILE [--sheets-only] [--sheet N]
"""

import datetime
import json
import re
import sys
import zipfile

import openpyxl

LAST_ROW = re.compile(rb'<row r="(\d+)"')


def last_row(path, sheet_index):
    """The last row number of a sheet, read from its XML as a stream (a
    million-row sheet parsed as cells would take minutes)."""
    last, tail = 0, b""
    with zipfile.ZipFile(path) as archive:
        with archive.open(f"xl/worksheets/sheet{sheet_index + 1}.xml") as xml:
            while chunk := xml.read(1 << 20):
                data = tail + chunk
                for match in LAST_ROW.finditer(data):
                    last = int(match.group(1))
                tail = data[-32:]
    return last


def cell_json(cell):
    value = cell.value
    if isinstance(value, datetime.datetime):
        value = value.isoformat()
    return {"value": value, "type": cell.data_type, "format": cell.number_format, "bold": bool(cell.font.b)}


def main():
    path = sys.argv[1]
    sheets_only = "--sheets-only" in sys.argv
    only = int(sys.argv[sys.argv.index("--sheet") + 1]) if "--sheet" in sys.argv else None
    # read_only reads a sheet only when asked, so the names come at once.
    workbook = openpyxl.load_workbook(path, read_only=sheets_only)
    out = []
    for index, sheet in enumerate(workbook.worksheets):
        entry = {"name": sheet.title}
        if not sheets_only and (only is None or only == index):
            entry["freeze"] = sheet.freeze_panes
            entry["filter"] = sheet.auto_filter.ref
            entry["widths"] = [sheet.column_dimensions[letter].width for letter in "ABCDEFGHIJ"[: sheet.max_column]]
            entry["rows"] = [[cell_json(cell) for cell in row] for row in sheet.iter_rows()]
        elif sheets_only:
            entry["max_row"] = last_row(path, index)
        out.append(entry)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
