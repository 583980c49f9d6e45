"""The catalog: one Lance table of sequences, its fields, versions and where it is stored.

* :mod:`.table`: :class:`Catalog` (open, create, versions, vector columns) and the built-in fields.
* :mod:`.storage`: local folders and S3 (settings, credentials, access checks, ``is_remote``).
* :mod:`.query`: filter conditions and their SQL; :mod:`.browse`: pages of rows for the browser.
* :mod:`.embeddings`: the catalog's embedding (vector) columns: add (resumable), remove, the default.
* :mod:`.schema`: user fields, the public face of :mod:`.definitions`, :mod:`.fields`,
  :mod:`.values`, :mod:`.annotate` and :mod:`.history` (descriptions of unlabelled versions).
"""
