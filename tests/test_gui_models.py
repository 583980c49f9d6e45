"""The Models page of the desktop app, offscreen: models, runtime options, embeddings of the catalog.

A random-weight ESM-2 of the real architecture (2 layers, 64-d) is exported once
per session by the same code path as ``genocat model export`` and registered
through the page into a per-test model folder. Every wait is on a signal
(``qtbot.waitSignal``/``waitUntil``); each window is closed at the end with its
engine thread stopped.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from esm_helpers import export_tiny_model
from PySide6.QtCore import QSettings

from genocat_desktop.cli.main import EXIT_ERROR, EXIT_OK, main
from genocat_desktop.engine import (
    Cancelled,
    CancelToken,
    Catalog,
    RuntimeOptions,
    add_embedding,
    add_model,
    get_runtime_options,
    import_files,
    list_models,
    pending_embeddings,
    set_runtime_options,
)
from genocat_desktop.engine.catalog import embeddings as embed_job
from genocat_desktop.engine.embed.embedders.base import create
from genocat_desktop.ui import engine_thread
from genocat_desktop.ui.engine_thread import EngineThread
from genocat_desktop.ui.main_window import MainWindow
from genocat_desktop.ui.widgets.progress import describe_embedding_progress

LONG_MS = 180_000
#: Sequences in the test catalog: a few dozen real proteins (the small labelled set).
ROWS = 60


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings and the model folder of this test only; the engine's runtime options restored afterwards."""
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    monkeypatch.setenv("GENOCAT_MODELS", str(tmp_path / "models"))
    yield
    set_runtime_options(**dataclasses.asdict(RuntimeOptions()))


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The exported tiny model (built once per session)."""
    return export_tiny_model(tmp_path_factory.mktemp("esm-gui"))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalog of the first ``ROWS`` proteins of tests/data/families_small.faa (made once, copied per test)."""
    root = tmp_path_factory.mktemp("models-page")
    records = (Path(__file__).parent / "data" / "families_small.faa").read_text().split(">")[1:]
    fasta = root / "few.faa"
    fasta.write_text("".join(">" + r for r in records[:ROWS]))
    catalog = Catalog.open(str(root / "catalog"), create=True)
    import_files(catalog, [fasta])
    assert catalog.count() == ROWS
    return root / "catalog"


@pytest.fixture
def open_window(window_opener: Callable[..., MainWindow]) -> Callable[[Path], MainWindow]:
    """Windows on catalog folders, shown once the Models page has its state."""

    def make(location: Path) -> MainWindow:
        w = window_opener(location, lambda w: w.models_page.state_shown, LONG_MS)
        w.models_page.confirm = lambda title, text: True
        return w

    return make


@pytest.fixture
def window(tmp_path: Path, prepared: Path, open_window: Callable[[Path], MainWindow]) -> MainWindow:
    location = tmp_path / "catalog"
    shutil.copytree(prepared, location)
    return open_window(location)


def _cells(table: Any, row: int) -> list[str]:
    return [table.item(row, c).text() if table.item(row, c) else "" for c in range(table.columnCount())]


def _register(qtbot: Any, w: MainWindow, path: Path) -> Any:
    with qtbot.waitSignal(w.models_page.state_shown, timeout=LONG_MS), \
            qtbot.waitSignal(w.models_page.model_added, timeout=LONG_MS) as added:
        w.models_page.add_model(str(path))
    return added.args[0]


def _embed(qtbot: Any, w: MainWindow, *args: Any, **kwargs: Any) -> Any:
    page = w.models_page
    with qtbot.waitSignal(page.state_shown, timeout=LONG_MS), \
            qtbot.waitSignal(page.embedding_finished, timeout=LONG_MS) as done:
        job = page.add_embedding(*args, **kwargs)
        assert job is not None
    return done.args[0]


def _row(w: MainWindow, column: str, pending: bool = False) -> Any:
    state = w.models_page.state
    assert state is not None
    found = [r for r in state.embeddings if r.column == column and r.pending == pending]
    return found[0] if found else None


def _cancel_mid_way(qtbot: Any, w: MainWindow, column: str | None = None, after: int = 5) -> None:
    """Start embedding with the tiny model and press Cancel once ``after`` sequences are reported done.

    Left alone this races the button: progress is throttled (the job reports every 0.25 s, the engine
    thread passes on one report per interval), and with the model already loaded the whole run can
    end between the first report and the next, so no report with ``after`` done ever arrives (the
    job finishes instead of stopping). Here every step is reported and passed on, and the job waits
    on its cancel token (an event, not a sleep) once ``after`` are done.
    """
    page = w.models_page
    report = embed_job._EmbedUdf._report

    def report_then_hold(udf: Any, extra: int = 0) -> None:
        udf.meter.interval = 0.0
        report(udf, extra)
        if udf.embedded + udf.reused + extra >= after:
            cancelled = threading.Event()
            udf.cancel.on_cancel(cancelled.set)
            cancelled.wait(LONG_MS / 1000)

    with pytest.MonkeyPatch.context() as patch, \
            qtbot.waitSignal(page.embedding_stopped, timeout=LONG_MS) as stopped, \
            qtbot.waitSignal(page.state_shown, timeout=LONG_MS):
        patch.setattr(embed_job._EmbedUdf, "_report", report_then_hold)
        patch.setattr(engine_thread, "PROGRESS_INTERVAL_S", 0.0)
        job = page.add_embedding("esm", {"model": "tiny"}, column=column)
        assert job is not None
        job.progress.connect(lambda p: page.cancel_button.click() if p.phase == "embedding" and p.done >= after
                             else None)
    assert stopped.args == ["cancelled"]


# ---------------------------------------------------------------------------- models
def test_add_model_through_the_page_lists_it(qtbot: Any, window: MainWindow, tiny_onnx: Path) -> None:
    page = window.models_page
    window.show_models()
    assert window.tabs.currentWidget() is page
    assert page.models_table.rowCount() == 0 and "genocat model export" in page.help_label.text()
    info = _register(qtbot, window, tiny_onnx)
    assert info.name == "tiny" and [m.name for m in list_models()] == ["tiny"]
    name, layers, dim, quant, size, sha, source = _cells(page.models_table, 0)
    assert (name, layers, dim, quant) == ("tiny", "2", "64", "none")
    assert size.endswith("MB") and info.sha256.startswith(sha) and len(sha) == 12
    assert source  # the checkpoint folder it was exported from
    # Remove it again (the confirmation is answered yes by the fixture).
    page.models_table.selectRow(0)
    with qtbot.waitSignal(page.state_shown, timeout=LONG_MS):
        page.remove_model_button.click()
    assert page.models_table.rowCount() == 0 and list_models() == []


def test_a_bad_onnx_file_gives_a_readable_error(qtbot: Any, window: MainWindow, tmp_path: Path) -> None:
    page = window.models_page
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"this is not a model\x00\x01" * 50)
    with qtbot.waitSignal(window.job_failed, timeout=LONG_MS) as failed:
        page.add_model(str(bad))
    assert "broken.onnx is not a readable ONNX model" in failed.args[0]
    assert "broken.onnx was not added" in page.model_status.text()
    # A real ONNX file that is not an ESM model (the self-test's tiny network) is refused with the reason.
    import genocat_desktop.resources

    other = tmp_path / "other.onnx"
    shutil.copy(Path(genocat_desktop.resources.__file__).parent / "selftest" / "tiny.onnx", other)
    with qtbot.waitSignal(window.job_failed, timeout=LONG_MS) as failed:
        page.add_model(str(other))
    assert "does not look like an ESM model" in failed.args[0] and "genocat model export" in failed.args[0]
    assert list_models() == [] and page.add_model_button.isEnabled()


def test_runtime_options_are_saved_and_applied(qtbot: Any, window: MainWindow, tmp_path: Path,
                                               open_window: Callable[[Path], MainWindow]) -> None:
    page = window.models_page
    assert page.options() == {"threads": 0, "token_budget": 4096, "use_gpu": True, "spin": False}
    with qtbot.waitSignal(page.options_applied, timeout=LONG_MS) as applied:
        page.runtime.threads_spin.setValue(1)  # applied once the user pauses (a timer), not per keystroke
        page.runtime.budget_spin.setValue(2048)
        page.runtime.gpu_check.setChecked(False)
    assert applied.args[0] == get_runtime_options()
    assert (get_runtime_options().threads, get_runtime_options().token_budget, get_runtime_options().use_gpu) == (
        1, 2048, False)
    # Kept for the next start: a new window shows them and applies them before opening its catalog.
    set_runtime_options(threads=0, token_budget=4096, use_gpu=True)
    other = tmp_path / "other-catalog"
    w2 = open_window(other)
    assert w2.models_page.options() == {"threads": 1, "token_budget": 2048, "use_gpu": False, "spin": False}
    assert get_runtime_options().threads == 1 and get_runtime_options().token_budget == 2048


def test_changed_threads_reach_a_model_already_loaded(tiny_onnx: Path) -> None:
    add_model(tiny_onnx)
    emb = create("esm", model="tiny")
    first = emb._load()  # type: ignore[attr-defined]
    assert emb._load() is first  # type: ignore[attr-defined]
    set_runtime_options(threads=1)
    second = emb._load()  # type: ignore[attr-defined]
    assert second is not first and second.get_session_options().intra_op_num_threads == 1
    set_runtime_options(token_budget=1024)  # read per batch: no new session needed
    assert emb._load() is second  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- embeddings
def test_add_embedding_then_search_with_it(qtbot: Any, window: MainWindow, tiny_onnx: Path) -> None:
    page = window.models_page
    _register(qtbot, window, tiny_onnx)
    assert [r.column for r in page.state.embeddings] == ["vec_kmer"]  # type: ignore[union-attr]
    assert not page.remove_embedding_button.isEnabled()  # never the last embedding
    texts: list[str] = []
    status: list[str] = []
    window.engine.job_started.connect(
        lambda job: job.progress.connect(lambda p: (texts.append(describe_embedding_progress(p)[1]),
                                                    status.append(window.job_status.label.text()))))
    outcome = _embed(qtbot, window, "esm", {"model": "tiny"})
    report = outcome.report
    assert report.column == "vec_esm_tiny" and report.rows == ROWS == report.embedded
    # Progress said rows, speed and time left, on the page and in the status bar.
    embedding = [t for t in texts if t.startswith("Embedding with tiny")]
    assert embedding and all("seq/s" in t and "left" in t and f"of {ROWS}" in t for t in embedding)
    assert any(s.startswith("Embedding ") and f"/{ROWS} · " in s and "seq/s" in s and "left" in s for s in status)
    row = _row(window, "vec_esm_tiny")
    assert row is not None and (row.dim, row.done, row.total, row.default) == (64, ROWS, ROWS, False)
    cells = _cells(page.embeddings_table, [r.column for r in page.state.embeddings].index("vec_esm_tiny"))  # type: ignore[union-attr]
    assert cells[:4] == ["vec_esm_tiny", "tiny", "64", f"{ROWS} / {ROWS}"] and cells[5] == "ready"
    # The search tab's chooser lists the new embedding, and searching with it finds the query itself first.
    combo = window.search_page.embedder_combo
    columns = [combo.itemData(i) for i in range(combo.count())]
    assert columns == ["vec_kmer", "vec_esm_tiny"] and combo.currentData() == "vec_kmer"
    combo.setCurrentIndex(columns.index("vec_esm_tiny"))
    catalog = Catalog.open(str(window.summary.location), create=False)  # type: ignore[union-attr]
    query = catalog.dataset().to_table(columns=["id", "sequence"], limit=1)
    window.tabs.setCurrentIndex(0)
    window.search_page.query_edit.setPlainText(f">{query.column('id')[0]}\n{query.column('sequence')[0]}")
    with qtbot.waitSignal(window.results_shown, timeout=LONG_MS) as shown:
        window.run_search()
    result = shown.args[0].results[0]
    assert result.column == "vec_esm_tiny" and len(result.hits) > 0
    assert result.hits.column("id")[0].as_py() == query.column("id")[0].as_py()
    assert result.hits.column("score")[0].as_py() == pytest.approx(1.0, abs=1e-5)

    # Set as default: the catalog and the search tab follow.
    page.select_embedding("vec_esm_tiny", pending=False)
    with qtbot.waitSignal(page.changed, timeout=LONG_MS), qtbot.waitSignal(page.state_shown, timeout=LONG_MS):
        page.default_button.click()
    assert window.summary.default_vector == "vec_esm_tiny"  # type: ignore[union-attr]
    assert _row(window, "vec_esm_tiny").default and "default" in _cells(
        page.embeddings_table, [r.column for r in page.state.embeddings].index("vec_esm_tiny"))[4]  # type: ignore[union-attr]
    # Remove embedding: the column goes, the default moves back, the chooser no longer offers it.
    page.select_embedding("vec_esm_tiny", pending=False)
    with qtbot.waitSignal(page.changed, timeout=LONG_MS), qtbot.waitSignal(page.state_shown, timeout=LONG_MS):
        page.remove_embedding_button.click()
    assert [r.column for r in page.state.embeddings] == ["vec_kmer"]  # type: ignore[union-attr]
    assert [combo.itemData(i) for i in range(combo.count())] == ["vec_kmer"]
    assert window.summary.default_vector == "vec_kmer"  # type: ignore[union-attr]


def test_kmer_embedding_through_the_dialog(qtbot: Any, window: MainWindow) -> None:
    from genocat_desktop.ui.dialogs.embedding import AddEmbeddingDialog

    page = window.models_page
    dialog = AddEmbeddingDialog([], ROWS, {r.column for r in page.state.embeddings}, page)  # type: ignore[union-attr]
    qtbot.addWidget(dialog)
    # No model installed: only the built-in embedders are offered (k-mer counts first, then MinHash
    # sketches), and the dialog says how to get a model.
    assert dialog.embedder_combo.count() == 2 and dialog.embedder_combo.currentData() == ("kmer", None)
    assert dialog.column_edit.text() == "vec_kmer_k3_512" and dialog.ok_button.isEnabled()
    dialog.column_edit.setText("vec_kmer")
    assert not dialog.ok_button.isEnabled() and "already has vec_kmer" in dialog.message.text()
    dialog.column_edit.setText("bad name")
    assert not dialog.ok_button.isEnabled() and "vec_ followed by" in dialog.message.text()
    dialog.k_spin.setValue(5)  # suggests a fresh column name again
    assert dialog.column_edit.text() == "vec_kmer_k5_512" and dialog.ok_button.isEnabled()
    dialog.default_check.setChecked(True)
    assert dialog.values() == ("kmer", {"k": 5, "dim": 512}, "vec_kmer_k5_512", True)
    # The page's button runs what the dialog returned.
    page.ask_embedding = dialog.values
    with qtbot.waitSignal(page.embedding_finished, timeout=LONG_MS) as done:
        page.add_embedding_button.click()
    assert done.args[0].report.column == "vec_kmer_k5_512"
    assert window.summary.default_vector == "vec_kmer_k5_512"  # type: ignore[union-attr]
    assert window.search_page.embedder_combo.findData("vec_kmer_k5_512") >= 0


def test_cancel_then_resume_then_discard(qtbot: Any, window: MainWindow, tiny_onnx: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Small groups, one sequence per model call, one thread: the run takes long enough to be cancelled
    # mid-way. Vectors are saved in groups of 4: Cancel is pressed once the 5th is done (the first group saved).
    monkeypatch.setattr(embed_job, "SAVE_EVERY", 4)
    monkeypatch.setattr(embed_job, "SCAN_BATCH", 16)
    set_runtime_options(threads=1, max_batch=1)
    page = window.models_page
    _register(qtbot, window, tiny_onnx)
    version = window.summary.version  # type: ignore[union-attr]
    _cancel_mid_way(qtbot, window)
    pending = _row(window, "vec_esm_tiny", pending=True)
    assert pending is not None and 0 < pending.done < ROWS, pending
    assert f"{pending.done} of {ROWS} sequences of vec_esm_tiny are saved" in page.status_label.text()
    assert "interrupted" in _cells(page.embeddings_table, page.state.embeddings.index(pending))[5]  # type: ignore[union-attr]
    catalog = Catalog.open(str(window.summary.location), create=False)  # type: ignore[union-attr]
    assert catalog.version == version and "vec_esm_tiny" not in catalog.vector_columns()
    # Resume: the saved vectors are re-used, the rest embedded.
    assert page.select_embedding("vec_esm_tiny", pending=True)
    assert page.resume_button.isEnabled() and not page.default_button.isEnabled()
    with qtbot.waitSignal(page.embedding_finished, timeout=LONG_MS) as done, \
            qtbot.waitSignal(page.state_shown, timeout=LONG_MS):
        page.resume_button.click()
        index = page.state.embeddings.index(pending)  # type: ignore[union-attr]
        assert _cells(page.embeddings_table, index)[5].startswith("resuming from")
        assert not page.resume_button.isEnabled() and page.cancel_button.isEnabled()
    report = done.args[0].report
    assert report.reused == pending.done and report.embedded == ROWS - pending.done
    assert _row(window, "vec_esm_tiny", pending=True) is None and _row(window, "vec_esm_tiny").done == ROWS
    assert window.search_page.embedder_combo.findData("vec_esm_tiny") >= 0
    # Another interrupted run, discarded: its saved work goes, the catalog is not touched.
    _cancel_mid_way(qtbot, window, column="vec_esm_again")
    assert _row(window, "vec_esm_again", pending=True) is not None
    version = catalog.refresh()
    assert page.select_embedding("vec_esm_again", pending=True)
    with qtbot.waitSignal(page.changed, timeout=LONG_MS), qtbot.waitSignal(page.state_shown, timeout=LONG_MS):
        page.discard_button.click()
    assert _row(window, "vec_esm_again", pending=True) is None
    assert pending_embeddings(catalog) == [] and catalog.refresh() == version


def test_quitting_during_an_embedding_asks_and_keeps_the_work(qtbot: Any, tmp_path: Path, prepared: Path,
                                                              tiny_onnx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embed_job, "SAVE_EVERY", 4)
    monkeypatch.setattr(embed_job, "SCAN_BATCH", 16)
    set_runtime_options(threads=1)
    add_model(tiny_onnx)
    location = tmp_path / "catalog"
    shutil.copytree(prepared, location)
    w = MainWindow(str(location))
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.models_page.state_shown, timeout=LONG_MS):
        w.show()
    asked: list[str] = []
    w.confirm = lambda title, text: asked.append(text) or True
    job = w.models_page.add_embedding("esm", {"model": "tiny"})
    assert job is not None
    qtbot.waitUntil(lambda: job.state == "running", timeout=LONG_MS)
    w.close()
    assert not w.engine.running
    assert asked and "embedding is still running" in asked[0]
    # Either it was cancelled (work kept for Resume) or it had just finished: never half a column.
    catalog = Catalog.open(str(location), create=False)
    done = "vec_esm_tiny" in catalog.vector_columns()
    assert done or [p.column for p in pending_embeddings(catalog)] == ["vec_esm_tiny"]


# ---------------------------------------------------------------------------- engine thread, CLI
def test_cancel_interrupts_work_registered_with_the_token(qtbot: Any) -> None:
    """Cancel reaches ``CancelToken.on_cancel`` callbacks (how an ONNX Runtime call in flight is stopped)."""
    engine = EngineThread()
    interrupted = threading.Event()
    running = threading.Event()

    def fn(progress: Any, cancel: Any) -> None:
        cancel.on_cancel(interrupted.set)
        running.set()
        # Stands for a long model call that only the callback can stop.
        if interrupted.wait(30):
            raise Cancelled()

    try:
        job = engine.submit("embed", "long call", fn)
        qtbot.waitUntil(running.is_set, timeout=LONG_MS)
        with qtbot.waitSignal(job.cancelled, timeout=10_000):
            engine.cancel(job)
        assert interrupted.is_set()
    finally:
        assert engine.shutdown()


def test_cli_embed_discard(tmp_path: Path, prepared: Path, tiny_onnx: Path, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embed_job, "SAVE_EVERY", 8)
    location = tmp_path / "catalog"
    shutil.copytree(prepared, location)
    add_model(tiny_onnx)
    catalog = Catalog.open(str(location), create=False)
    token = CancelToken()
    with pytest.raises(Cancelled):
        add_embedding(catalog, "esm", {"model": "tiny"}, cancel=token,
                      progress=lambda p: token.cancel() if p.phase == "embedding" else None)
    assert [p.column for p in pending_embeddings(catalog)] == ["vec_esm_tiny"]
    assert main(["--catalog", str(location), "info"]) == EXIT_OK
    assert "genocat embed --discard" in capsys.readouterr().out
    assert main(["--catalog", str(location), "embed", "--discard", "tiny"]) == EXIT_OK
    assert "discarded the interrupted run of vec_esm_tiny" in capsys.readouterr().out
    assert pending_embeddings(catalog) == []
    assert main(["--catalog", str(location), "embed", "--discard", "vec_esm_tiny"]) == EXIT_ERROR
    assert "no interrupted embedding 'vec_esm_tiny'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["embed", "--help"])
    assert "--discard" in capsys.readouterr().out


def test_describe_embedding_progress_wording() -> None:
    from genocat_desktop.engine import Progress

    value, text = describe_embedding_progress(
        Progress(1200, 10_000, "sequences", "embedding", "Embedding with esm2_t6: 1,200 of 10,000", 9.75))
    assert value == 120
    assert text == "Embedding with esm2_t6: 1,200 of 10,000 sequences · 9.8 seq/s · about 15 min 03 s left"
    assert describe_embedding_progress(
        Progress(1200, 10_000, "sequences", "embedding", "Embedding with esm2_t6: 1,200 of 10,000", 9.75), compact=True
    )[1] == "Embedding 1,200/10,000 · 9.8 seq/s · about 15 min 03 s left"
    assert describe_embedding_progress(Progress(5_000_000, 10_000_000, "bytes", "copying", "Copying x.onnx"))[1] == (
        "Copying x.onnx: 5.0 MB of 10.0 MB")
    assert describe_embedding_progress(Progress(10, 10, "sequences", "saving", "Saving the vec_x column"))[1] == (
        "Saving the vec_x column")
