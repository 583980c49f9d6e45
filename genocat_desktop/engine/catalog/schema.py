"""User-defined fields: add, rename, drop, list, and edit their values without touching the vectors.

This module is the feature's public face; the work is split by job:
:mod:`.definitions` (what a field is), :mod:`.fields` (schema changes),
:mod:`.values` (set values), :mod:`.annotate` (fill from a spreadsheet) and
:mod:`.history` (describing versions without a message).

A lab adds its own columns to the catalog (``assay``, ``ph_optimum``,
``reviewed``...). Lance stores each column of a fragment in data files that
name the fields they hold, so every operation here either changes only the
schema or writes *new* files that hold only the changed user field; the data
files holding the sequences and vectors are never rewritten, and vector
indexes keep covering every fragment (``tests/test_schema.py`` checks it by
hashing every data file before and after):

========================  =====================================================
operation                 what Lance writes
========================  =====================================================
add (no default)          nothing but the new manifest (the field reads as null)
add with a default        one small file per fragment holding only the new field
rename, drop              nothing but the new manifest (field ids are kept)
set values / annotate     per touched fragment, one file holding only that field
                          (``LanceFragment.update_columns`` + an ``Update``
                          commit in ``rewrite_columns`` mode); the old file of
                          that field is masked, not modified
========================  =====================================================

``LanceDataset.update`` (SQL ``UPDATE``) and ``merge_insert`` were measured and
are not used: both delete the matched rows and write them again whole,
vectors included.

Where the field's definition lives: its type (``category`` vs ``text``,
``date``...), the allowed values of a category, its description and default
are JSON in the Arrow *field* metadata (key ``genocat``; the description also
under ``doc``, which :meth:`Catalog.fields` shows). Field metadata is part of
the field in the Lance manifest, so it is created, renamed and dropped in the
same commit as the column: there is no moment at which a field exists without
its definition, or a definition without its field. (The table-level
``user_fields`` map could only be updated by a second commit.)

Every change is one catalog version with a commit message; a change that
fails validation raises before anything is written.
"""

from genocat_desktop.engine.catalog.annotate import (
    ANNOTATION_KEYS,
    PREVIEW_ROWS,
    AnnotationPlan,
    annotate,
    plan_annotations,
)
from genocat_desktop.engine.catalog.definitions import FIELD_TYPES, EditReport, FieldSummary, UserField
from genocat_desktop.engine.catalog.fields import (
    ALWAYS_FILLED,
    RESERVED_NAMES,
    add_field,
    check_field_name,
    drop_field,
    field_default,
    list_fields,
    parse_value,
    rename_field,
    update_field,
    user_fields,
)
from genocat_desktop.engine.catalog.history import describe_schema_change, version_description
from genocat_desktop.engine.catalog.values import set_cells, set_values

__all__ = [
    "ALWAYS_FILLED",
    "ANNOTATION_KEYS",
    "FIELD_TYPES",
    "PREVIEW_ROWS",
    "RESERVED_NAMES",
    "AnnotationPlan",
    "EditReport",
    "FieldSummary",
    "UserField",
    "add_field",
    "annotate",
    "check_field_name",
    "describe_schema_change",
    "drop_field",
    "field_default",
    "list_fields",
    "parse_value",
    "plan_annotations",
    "rename_field",
    "set_cells",
    "set_values",
    "update_field",
    "user_fields",
    "version_description",
]
