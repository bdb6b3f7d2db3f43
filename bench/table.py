"""`python -m bench.table`: rewrite the table at the top of docs/benchmarks.md from
bench/results.json (what every run does at its end), e.g. after editing results.json by hand
or merging the results of runs made on other branches."""

from __future__ import annotations

import json

from bench import report


def main() -> None:
    report.write_table(json.loads(report.RESULTS_PATH.read_text()), report.DOCS_PATH)


if __name__ == "__main__":
    main()
