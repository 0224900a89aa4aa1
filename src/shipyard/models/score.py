"""Score a file with a model package: ``python -m shipyard.models.score``.

    python -m shipyard.models.score --model /model --input in.parquet --output out.parquet

Reads CSV or Parquet (by extension), predicts, and writes the predictions in the output's
format: a one-dimensional result as the column ``prediction``, a two-dimensional one as
``prediction_0``, ``prediction_1``..., a table as its own columns. ``--method predict_proba``
writes probabilities instead. This is the command a model's build context runs until the model
server serves it; it needs only the package's runtime packages, numpy, pyarrow and blake3.
Exit status 2 and a one-line message on bad input; never a traceback for a Shipyard error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import InvalidInputError, ShipyardError


def read_table(path: Path) -> Any:
    import pyarrow.csv
    import pyarrow.parquet

    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pyarrow.parquet.read_table(path)
    if suffix == ".csv":
        return pyarrow.csv.read_csv(path)
    raise InvalidInputError(f"{path}: read .csv or .parquet files, not {suffix or 'no suffix'}",
                            field="input")


def predictions_table(predictions: Any, rows: int) -> Any:
    """Predictions as a pyarrow Table with one row per input row."""
    import pyarrow as pa

    if type(predictions).__name__ == "DataFrame":
        table = pa.Table.from_pandas(predictions, preserve_index=False)
    elif isinstance(predictions, pa.Table):
        table = predictions
    else:
        array = np.asarray(predictions)
        if array.ndim == 1:
            table = pa.table({"prediction": array})
        elif array.ndim == 2:
            table = pa.table({f"prediction_{i}": array[:, i] for i in range(array.shape[1])})
        else:
            raise InvalidInputError(f"predictions of shape {array.shape} do not fit a table",
                                    field="output")
    if table.num_rows != rows:
        raise InvalidInputError(f"the model returned {table.num_rows} rows for {rows} inputs",
                                field="output")
    return table


def write_table(table: Any, path: Path) -> None:
    import pyarrow.csv
    import pyarrow.parquet

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        pyarrow.parquet.write_table(table, path)
    elif path.suffix.lower() == ".csv":
        pyarrow.csv.write_csv(table, path)
    else:
        raise InvalidInputError(f"{path}: write .csv or .parquet files", field="output")


def score(model_dir: Path, input_path: Path, output_path: Path, *, method: str = "predict",
          trust: bool = False) -> int:
    """Score ``input_path`` into ``output_path``; the number of rows scored."""
    from shipyard.models.package import load_model

    model = load_model(model_dir, trust=trust)
    table = read_table(input_path)
    predict = model.predict_proba if method == "predict_proba" else model.predict
    data = table if model.signature is not None else _native(table)
    write_table(predictions_table(predict(data), table.num_rows), output_path)
    return int(table.num_rows)


def _native(table: Any) -> Any:
    """For a package without signature: a DataFrame where pandas is installed, else an array."""
    try:
        return table.to_pandas()
    except ImportError:
        return np.column_stack([c.to_numpy(zero_copy_only=False) for c in table.columns])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shipyard.models.score",
                                     description="Score a CSV or Parquet file with a model "
                                                 "package.")
    parser.add_argument("--model", required=True, type=Path, help="the model package folder")
    parser.add_argument("--input", required=True, type=Path, help="a .csv or .parquet file")
    parser.add_argument("--output", required=True, type=Path, help="a .csv or .parquet file")
    parser.add_argument("--method", choices=("predict", "predict_proba"), default="predict")
    parser.add_argument("--trust", action="store_true",
                        help="allow packages whose loading runs their code (pickle)")
    args = parser.parse_args(argv)
    try:
        rows = score(args.model, args.input, args.output, method=args.method, trust=args.trust)
    except ShipyardError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    print(f"scored {rows} rows into {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
