"""The engine's base layer, imported by every other engine package and importing none of them.

* :mod:`.errors`: the :class:`GenoCatError` hierarchy, messages written for the person at the workstation.
* :mod:`.progress`: :class:`Progress` reports, :class:`CancelToken` and :class:`RateMeter` for long tasks.
* :mod:`.process`: process-wide settings (:func:`configure_process`, the GC pause, BLAS threads).
* :mod:`.parallel`: one call's work in parts on threads of its own.
* :mod:`.molecules`: the molecule types and :func:`~.molecules.is_nucleotide`, the one rule for DNA/RNA.
"""
