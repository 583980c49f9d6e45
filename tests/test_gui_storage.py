"""The Indexes dialog, the index indicator, the search effort, and S3 catalogs in the desktop app.

Offscreen, like tests/test_gui.py: every wait is on a signal, never a fixed
delay, and each window is closed at the end with its engine thread stopped.
The S3 tests run against a real S3 server (moto_server, from conftest.py) that
enforces credentials, with an in-memory keyring and no ``AWS_*`` variables.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from conftest import MOTO, S3Server, free_port
from PySide6.QtCore import QSettings

from genocat_desktop.app.storage import AccessResult
from genocat_desktop.engine import Catalog, SearchEffort, import_files
from genocat_desktop.ui.dialogs.s3 import S3Dialog, load_location
from genocat_desktop.ui.main_window import MainWindow
from genocat_desktop.ui.settings import recent_catalogs

LONG_MS = 120_000
needs_moto = pytest.mark.skipif(not MOTO.exists(), reason="moto[server] is not installed")


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path) -> Iterator[Path]:
    """QSettings in the test's folder (and the folder, to read the file the app wrote)."""
    folder = tmp_path / "settings"
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))
    yield folder


@pytest.fixture(scope="module")
def sample_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalog of the 379 sample proteins, made once and copied by each test."""
    folder = tmp_path_factory.mktemp("indexes") / "catalog"
    catalog = Catalog.open(str(folder), create=True)
    import_files(catalog, [Path(__file__).parent / "data" / "families_small.faa"])
    return folder


@pytest.fixture
def open_window(window_opener: Callable[..., MainWindow]) -> Callable[[Path], MainWindow]:
    """Windows on catalogs, shown once the index indicator has its state."""

    def make(location: Path) -> MainWindow:
        w = window_opener(location, lambda w: w.index_dialog.status_shown, LONG_MS)
        return w

    return make


@pytest.fixture
def window(tmp_path: Path, sample_catalog: Path, open_window: Callable[[Path], MainWindow]) -> MainWindow:
    location = tmp_path / "catalog"
    shutil.copytree(sample_catalog, location)
    return open_window(location)


def _run(qtbot: Any, w: MainWindow, start: Callable[[], Any], action: str) -> Any:
    """Start an index job and wait until its result (``action``) is on screen; return the IndexOutcome.

    (A status read queued before it, e.g. by opening the dialog, shows its answer first.)
    """
    with qtbot.waitSignal(w.index_dialog.status_shown, timeout=LONG_MS,
                          check_params_cb=lambda outcome: outcome.action == action) as shown:
        job = start()
        assert job is not None
    return shown.args[0]


def _import(qtbot: Any, w: MainWindow, path: Path) -> Any:
    with qtbot.waitSignal(w.imports_done, timeout=LONG_MS) as done:
        w.import_paths([str(path)])
    (_, report, message) = done.args[0][0]
    assert report is not None and report.ok, message
    return report


# ---------------------------------------------------------------------------------- indexes
def test_indexes_dialog_build_shows_built_then_drop_shows_none(qtbot: Any, window: MainWindow) -> None:
    dialog = window.index_dialog
    assert window.index_dialog.status_button.text() == "Index: none (exact search)"
    window.act_indexes.trigger()
    assert dialog.isVisible() and dialog.table.rowCount() == 0
    assert dialog.build_button.text().replace("&", "") == "Build indexes"
    assert not dialog.optimize_button.isEnabled() and not dialog.drop_button.isEnabled()

    phases: list[str] = []

    def build() -> Any:
        job = dialog.build()
        assert job is not None and dialog.cancel_button.isEnabled() and not dialog.build_button.isEnabled()
        job.progress.connect(lambda p: phases.append(p.phase))
        return job

    with qtbot.waitSignal(window.index_dialog.changed, timeout=LONG_MS):
        outcome = _run(qtbot, window, build, "built")
    # Asked for, the index is built even where the policy measured it would not help (and says so first).
    assert phases[0] == "policy" and {"vector", "train_ivf"} & set(phases) and "scalar" in phases
    vec = outcome.status.vector()
    assert vec is not None and vec.index_type == "IVF_RQ" and vec.rows_indexed == 379
    lines = dialog.status_lines()
    vector_line = next(line for line in lines if line.startswith("vec_kmer |"))
    assert "vector (ANN)" in vector_line and "IVF_RQ" in vector_line and "built, up to date" in vector_line
    assert vector_line.split(" | ")[-1] != "—"  # built at
    assert any(line.startswith("description | full text | Inverted") for line in lines)
    assert any(line.startswith("organism | scalar (filters) | Bitmap") for line in lines)
    assert window.index_dialog.status_button.text() == "Index: 379 of 379 rows indexed"
    # What was measured: the policy's reason and the calibrated search effort.
    assert "Vector index policy:" in dialog.summary_label.text()
    assert outcome.status.calibration is not None
    assert f"Search effort: probe {outcome.status.calibration.nprobes} of" in dialog.summary_label.text()
    assert dialog.build_button.text().replace("&", "") == "Rebuild indexes"
    # The index change is a new catalog version, and the status bar says so.
    assert window.summary is not None and f"version {outcome.status.version}" in window.catalog_label.text()

    asked: list[str] = []
    dialog.confirm = lambda title, text: asked.append(text) is None
    outcome = _run(qtbot, window, lambda: dialog.drop(), "dropped")
    assert asked and "all indexes" in asked[0]
    assert outcome.action == "dropped" and outcome.status.indexes == [] and dialog.table.rowCount() == 0
    assert window.index_dialog.status_button.text() == "Index: none (exact search)"
    assert Catalog.open(window.summary.location, create=False).dataset().describe_indices() == []


def test_drop_selected_index_only_and_refusal_keeps_it(qtbot: Any, window: MainWindow) -> None:
    dialog = window.index_dialog
    _run(qtbot, window, lambda: dialog.build(), "built")
    before = dialog.table.rowCount()
    row = next(r for r in range(before) if dialog.table.item(r, 0).text() == "organism")
    dialog.table.selectRow(row)
    assert dialog.selected_names() == ["genocat_organism"]
    assert dialog.drop_button.text().replace("&", "") == "Drop selected…"
    dialog.confirm = lambda title, text: False
    assert dialog.drop(dialog.selected_names()) is None  # refused: nothing submitted
    dialog.confirm = lambda title, text: True
    outcome = _run(qtbot, window, lambda: dialog.drop(dialog.selected_names()), "dropped")
    names = [i.name for i in outcome.status.indexes]
    assert len(names) == before - 1 and "genocat_organism" not in names and "genocat_vec_kmer" in names


def test_optimize_after_an_import_indexes_every_row(qtbot: Any, window: MainWindow, data_dir: Path) -> None:
    dialog = window.index_dialog
    dialog.auto_check.setChecked(False)  # otherwise the import would optimize by itself
    _run(qtbot, window, lambda: dialog.build(), "built")
    with qtbot.waitSignal(dialog.status_shown, timeout=LONG_MS) as shown:
        report = _import(qtbot, window, data_dir / "mmseqs2_QUERY.fasta")
    status = shown.args[0].status
    total = 379 + report.imported
    assert status.rows == total and status.vector().rows_indexed == 379
    text = window.index_dialog.status_button.text()
    assert text == f"Index: 379 of {total:,} rows indexed"
    assert "Optimize adds them" in window.index_dialog.status_button.toolTip()
    assert all(f"new rows to add | 379 | {report.imported:,} |" in line for line in dialog.status_lines())
    assert f"{report.imported:,} rows were imported after the build" in dialog.message_label.text()
    assert dialog.optimize_button.isEnabled()

    outcome = _run(qtbot, window, lambda: dialog.optimize(), "optimized")
    assert all(i.rows_unindexed == 0 for i in outcome.status.indexes)
    assert window.index_dialog.status_button.text() == f"Index: {total:,} of {total:,} rows indexed"
    assert all("built, up to date" in line for line in dialog.status_lines())


def test_imports_build_the_indexes_automatically_past_the_threshold(
    qtbot: Any, tmp_path: Path, open_window: Callable[[Path], MainWindow], data_dir: Path
) -> None:
    w = open_window(tmp_path / "new")
    dialog = w.index_dialog
    assert dialog.auto_check.isChecked()  # on by default
    assert not dialog.build_button.isEnabled()  # nothing to index yet
    dialog.auto_threshold = 300  # the engine's default is 100,000 rows
    assert "300" in dialog.auto_check.text()
    with qtbot.waitSignal(dialog.changed, timeout=LONG_MS), \
            qtbot.waitSignal(dialog.status_shown, timeout=LONG_MS,
                             check_params_cb=lambda o: o.action == "built") as built:
        _import(qtbot, w, data_dir / "families_small.faa")
    # The filter and text indexes are built; no vector index: the vectors fit the searcher's RAM budget,
    # where exact search is faster than any index (engine/search/index_policy.py).
    status = built.args[0].status
    assert status.vector() is None and {i.kind for i in status.indexes} >= {"scalar", "text"}
    assert w.index_dialog.status_button.text() == "Index: none (exact search)"
    # Below the threshold nothing is built: a second window with a higher threshold stays exact.
    w2 = open_window(tmp_path / "other")
    w2.index_dialog.auto_threshold = 1_000
    with qtbot.waitSignal(w2.index_dialog.status_shown, timeout=LONG_MS) as shown:
        _import(qtbot, w2, data_dir / "families_small.faa")
    assert shown.args[0].action is None and shown.args[0].status.indexes == []
    assert w2.index_dialog.status_button.text() == "Index: none (exact search)"


def test_cancelling_a_build_changes_nothing(qtbot: Any, window: MainWindow) -> None:
    dialog = window.index_dialog
    version = window.summary.version if window.summary else -1
    job = dialog.build()
    assert job is not None and dialog.cancel_button.isEnabled()
    # Cancel at the first progress report: the build is still writing, nothing is published.
    job.progress.connect(lambda p: dialog.cancel())
    with qtbot.waitSignal(job.cancelled, timeout=LONG_MS), qtbot.waitSignal(dialog.status_shown, timeout=LONG_MS):
        pass
    assert "Cancelled" in dialog.message_label.text()
    assert dialog.outcome is not None and dialog.outcome.status.indexes == []
    assert dialog.outcome.status.version == version
    assert dialog.build_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_search_effort_setting_reaches_the_searcher_and_is_saved(
    qtbot: Any, window: MainWindow, open_window: Callable[[Path], MainWindow], tmp_path: Path
) -> None:
    dialog = window.index_dialog
    session = window.session
    assert session is not None
    assert (dialog.probe_spin.value(), dialog.refine_spin.value()) == (100, 10)  # the engine's default
    assert "recall" in dialog.probe_spin.toolTip()
    job = dialog.set_effort(20, 5)
    assert job is not None and (dialog.probe_spin.value(), dialog.refine_spin.value()) == (20, 5)
    with qtbot.waitSignal(job.finished, timeout=LONG_MS):
        pass
    assert session.searcher.effort.probe_fraction == pytest.approx(0.2)
    assert session.searcher.effort.refine_factor == 5
    assert session.searcher.effort.probes(100) == 20
    # Kept for the next start.
    other = open_window(tmp_path / "second")
    assert (other.index_dialog.probe_spin.value(), other.index_dialog.refine_spin.value()) == (20, 5)
    assert other.session is not None
    qtbot.waitUntil(lambda: other.session is not None and other.session.searcher.effort.refine_factor == 5,
                    timeout=LONG_MS)
    # The dialog's defaults select the engine's default effort (the one calibrated at build time).
    job = dialog.set_effort(100, 10)
    assert job is not None
    with qtbot.waitSignal(job.finished, timeout=LONG_MS):
        pass
    assert session.searcher.effort == SearchEffort()


# ---------------------------------------------------------------------------------- S3
@pytest.fixture
def s3(isolated_aws: None, s3_server: S3Server, memory_keyring: dict[tuple[str, str], str]) -> S3Server:
    return s3_server


def _fill(dialog: S3Dialog, location: str, endpoint: str, *, allow_http: bool = True, key: str = "",
          secret: str = "", remember: bool = True, create: bool = False) -> None:
    dialog.location_edit.setText(location)
    dialog.endpoint_edit.setText(endpoint)
    dialog.region_edit.setText("us-east-1")
    dialog.http_check.setChecked(allow_http)
    (dialog.keys_radio if key or secret else dialog.chain_radio).setChecked(True)
    dialog.key_edit.setText(key)
    dialog.secret_edit.setText(secret)
    dialog.remember_check.setChecked(remember)
    dialog.create_check.setChecked(create)


def _check(qtbot: Any, dialog: S3Dialog) -> tuple[AccessResult, float]:
    started = time.monotonic()
    with qtbot.waitSignal(dialog.checked, timeout=LONG_MS) as blocker:
        assert dialog.test_connection() is not None
    return blocker.args[0], time.monotonic() - started


def _settings_text(folder: Path) -> str:
    QSettings().sync()
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


@needs_moto
def test_open_s3_catalog_import_search_and_reopen_from_the_keyring(
    qtbot: Any, s3: S3Server, memory_keyring: dict[tuple[str, str], str], window: MainWindow,
    shared_file: Callable[[str], Path], _isolated_settings: Path,
) -> None:
    fasta = shared_file("proteins/unlabeled/mmseqs2_QUERY.fasta")
    bucket = s3.bucket()
    location = f"s3://{bucket}/lab/catalog"
    key, secret = s3.credentials.access_key_id, s3.credentials.secret_access_key
    dialog = window.choose_s3_catalog()
    assert dialog.isVisible() and dialog.chain_radio.isChecked()
    _fill(dialog, location, s3.endpoint, key=key, secret=secret, create=True)
    assert dialog.path_style_check.isChecked()  # an endpoint was typed

    result, seconds = _check(qtbot, dialog)
    assert result.ok and result.source == "typed" and seconds < 5
    assert "Connected" in dialog.result_title.text()

    with qtbot.waitSignal(window.catalog_opened, timeout=LONG_MS) as opened:
        dialog.open_catalog()
    summary = opened.args[0]
    assert summary.location == location and summary.rows == 0
    assert not dialog.isVisible() and dialog.secret_edit.text() == ""
    # The key went to the keyring, not to the settings.
    assert any(secret in value for value in memory_keyring.values())
    settings = QSettings()
    assert all(secret not in str(settings.value(k)) for k in settings.allKeys())
    text = _settings_text(_isolated_settings)
    assert location in text and secret not in text and key not in text
    saved = load_location(location)
    assert saved is not None and saved.endpoint == s3.endpoint and saved.credentials == "keys" and saved.allow_http
    assert recent_catalogs()[0] == location

    # Import a real FASTA into the S3 catalog through the window, then search it.
    report = _import(qtbot, window, fasta)
    assert report.imported > 400 and window.summary is not None and window.summary.rows == report.imported
    first = fasta.read_text().split(">")[1]
    ident, sequence = first.split()[0], "".join(first.splitlines()[1:])
    window.search_page.query_edit.setPlainText(f">q\n{sequence}")
    with qtbot.waitSignal(window.results_shown, timeout=LONG_MS) as shown:
        window.run_search()
    hits = shown.args[0].results[0].hits
    assert ident in hits.column("id").to_pylist()[:3]
    assert hits.column("score")[0].as_py() == pytest.approx(1.0, abs=1e-4)

    # Reopening the recent location takes the key from the keyring (nothing typed this time).
    with qtbot.waitSignal(window.catalog_opened, timeout=LONG_MS) as reopened:
        window.open_catalog(location)
    assert reopened.args[0].location == location and reopened.args[0].rows == report.imported
    # The index indicator works on S3 too.
    qtbot.waitUntil(lambda: window.index_dialog.status_button.text() == "Index: none (exact search)",
                    timeout=LONG_MS)

    # Without the stored key, reopening says so in plain words.
    memory_keyring.clear()
    with qtbot.waitSignal(window.job_failed, timeout=LONG_MS) as failed:
        window.open_catalog(location)
    assert "no access key" in failed.args[0] and "keyring" in failed.args[0]


@needs_moto
def test_s3_dialog_shows_a_distinct_message_for_each_failure(
    qtbot: Any, s3: S3Server, memory_keyring: dict[tuple[str, str], str], window: MainWindow,
) -> None:
    bucket = s3.bucket()
    location = f"s3://{bucket}/cat"
    key, secret = s3.credentials.access_key_id, s3.credentials.secret_access_key
    dialog = window.choose_s3_catalog()

    cases = [
        # (what is wrong, fill arguments, headline, words in the message, seconds at most)
        ("wrong secret", {"location": location, "endpoint": s3.endpoint, "key": key, "secret": "wrong"},
         "Wrong or missing credentials", "secret access key is wrong", 5),
        ("unknown key", {"location": location, "endpoint": s3.endpoint, "key": "AKIAUNKNOWN0000000000",
                         "secret": secret}, "Wrong or missing credentials", "not known", 5),
        ("no credentials", {"location": location, "endpoint": s3.endpoint},
         "Wrong or missing credentials", "no credentials", 5),
        ("missing bucket", {"location": f"s3://no-such-{uuid.uuid4().hex[:8]}/cat", "endpoint": s3.endpoint,
                            "key": key, "secret": secret}, "Bucket not found", "does not exist", 5),
        ("dead endpoint", {"location": location, "endpoint": f"http://127.0.0.1:{free_port()}", "key": key,
                           "secret": secret}, "Endpoint unreachable", "cannot connect", 6),
        ("http not allowed", {"location": location, "endpoint": s3.endpoint, "key": key, "secret": secret,
                              "allow_http": False}, "Plain HTTP is not allowed", "allow HTTP", 2),
    ]
    headlines = set()
    for what, fill, headline, words, limit in cases:
        _fill(dialog, **fill)
        result, seconds = _check(qtbot, dialog)
        assert not result.ok, what
        assert result.title == headline, what
        assert headline in dialog.result_title.text(), what
        assert words in dialog.result_text.text(), (what, dialog.result_text.text())
        assert result.hint and result.hint in dialog.result_text.text(), what
        assert seconds < limit, (what, seconds)
        assert secret not in dialog.result_text.text()
        headlines.add(headline)
    assert len(headlines) == 4

    # Open reports in the dialog too, which stays open; a missing catalog says how to create one.
    _fill(dialog, location, s3.endpoint, key=key, secret=secret, create=False)
    with qtbot.waitSignal(dialog.open_failed, timeout=LONG_MS) as failed:
        dialog.open_catalog()
    assert failed.args[0].kind == "missing" and dialog.isVisible()
    assert "No catalog at this location" in dialog.result_title.text() and "Create" in dialog.result_text.text()
    _fill(dialog, f"s3://no-such-{uuid.uuid4().hex[:8]}/cat", s3.endpoint, key=key, secret=secret, create=True)
    with qtbot.waitSignal(dialog.open_failed, timeout=LONG_MS) as failed:
        dialog.open_catalog()
    assert failed.args[0].kind == "bucket" and "Bucket not found" in dialog.result_title.text()
    # A location that is not s3:// is refused before anything runs.
    dialog.location_edit.setText("/home/lab/catalog")
    assert not dialog.test_button.isEnabled() and not dialog.open_button.isEnabled()
    assert "Not an S3 location" in dialog.result_title.text()
    dialog.reject()
    assert window.summary is not None and not window.summary.location.startswith("s3://")


@needs_moto
def test_s3_default_chain_and_the_stored_key(
    qtbot: Any, s3: S3Server, memory_keyring: dict[tuple[str, str], str], window: MainWindow,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from genocat_desktop.engine import save_credentials

    bucket = s3.bucket()
    location = f"s3://{bucket}/cat"
    dialog = window.choose_s3_catalog()
    # The AWS default chain: keys from the environment.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.credentials.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.credentials.secret_access_key)
    _fill(dialog, location, s3.endpoint)
    result, _ = _check(qtbot, dialog)
    assert result.ok and result.source == "environment"
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # "Access key" with nothing typed uses the key stored in the keyring, and the dialog says there is one.
    save_credentials(s3.endpoint, bucket, s3.credentials)
    dialog.keys_radio.setChecked(True)  # looks in the keyring
    qtbot.waitUntil(lambda: "stored in the keyring" in dialog.stored_label.text(), timeout=LONG_MS)
    assert dialog.forget_button.isVisible()
    result, _ = _check(qtbot, dialog)
    assert result.ok and result.source == "keyring"
    # Half a key is refused with a message that says which half is missing.
    dialog.key_edit.setText(s3.credentials.access_key_id)
    result, _ = _check(qtbot, dialog)
    assert result.kind == "auth" and "secret access key is missing" in result.message
    dialog.key_edit.clear()
    with qtbot.waitSignal(dialog.forget_key().finished, timeout=LONG_MS):
        pass
    assert memory_keyring == {} and "removed" in dialog.stored_label.text()
    result, _ = _check(qtbot, dialog)
    assert result.kind == "auth" and "none is stored in the system keyring" in result.message
    dialog.reject()
