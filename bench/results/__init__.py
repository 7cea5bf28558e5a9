"""The results directory: the row schema (``schema``), where everything lives (``layout``:
``ResultsDir``), atomic writes (``write``) and the readers (``read``).

On the ground floor: it may import only ``bench.errors`` and other ground-floor modules (no torch;
pandas only inside the readers), so analysis reads results without the wings that run cells.
"""
from __future__ import annotations

from bench.errors import ResultsError, ResultsWarning
from bench.results.layout import ResultsDir, tmp_path_for, tmp_tag
from bench.results.read import (DamagedFile, check_version, finished_keys, read_binding,
                                read_checkpoint_table, read_checkpoints, read_result_table,
                                read_results, read_run_record, read_run_records, read_selection_table,
                                read_selection_tables, result_files)
from bench.results.schema import (CHECKPOINT_COLUMNS, COLUMNS, CORE_IDENTITY, NAN, SCHEMA,
                                  SCHEMA_VERSION, STATUSES, VERSION_KEY, hparams_label, new_row)
from bench.results.write import (DISK_FULL_ERRNOS, cell_path, create_exclusively, disk_full,
                                 disk_full_error, write_probe, write_row, write_table_atomically)

__all__ = [
    "CHECKPOINT_COLUMNS", "COLUMNS", "CORE_IDENTITY", "DISK_FULL_ERRNOS", "DamagedFile", "NAN",
    "ResultsDir", "ResultsError", "ResultsWarning", "SCHEMA", "SCHEMA_VERSION", "STATUSES",
    "VERSION_KEY", "cell_path", "check_version", "create_exclusively", "disk_full", "disk_full_error",
    "finished_keys", "hparams_label", "new_row", "read_binding", "read_checkpoint_table",
    "read_checkpoints", "read_result_table", "read_results", "read_run_record", "read_run_records",
    "read_selection_table", "read_selection_tables", "result_files", "tmp_path_for", "tmp_tag",
    "write_probe", "write_row", "write_table_atomically",
]
