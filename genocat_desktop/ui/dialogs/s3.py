"""File → Open S3 catalog…: a catalog at ``s3://bucket/prefix`` on AWS or any S3-compatible store.

The dialog collects the location, endpoint, region, addressing and HTTP
options and the credentials: the AWS default chain (environment variables,
``~/.aws`` profile), or an access key typed here and, if asked, kept in the
operating system's keyring. "Test connection" and "Open" run on the engine
thread (:mod:`genocat_desktop.app.storage`); each storage failure gets its
own headline (wrong credentials, bucket not found, endpoint unreachable, plain
HTTP not allowed) and the engine's message, within seconds.

What is saved in QSettings (:func:`save_location`, keyed by the location, for
the recent catalogs) is an :class:`~genocat_desktop.app.storage.S3Location`:
no secret, no access key. Reopening a recent S3 catalog takes the key from the
keyring (or the AWS chain) again.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from genocat_desktop.app.storage import (
    AccessResult,
    S3Location,
    S3Opened,
    check_access_job,
    forget_key_job,
    open_s3_job,
    stored_key_job,
)
from genocat_desktop.ui.app import error_color, muted_color, ok_color
from genocat_desktop.ui.engine_thread import EngineThread, Job
from genocat_desktop.ui.settings import settings

__all__ = ["S3Dialog", "load_location", "save_location"]

#: QSettings key holding ``{location: S3Location.to_dict()}`` as JSON (no secrets).
SETTINGS_KEY = "catalogs/s3"
#: ``s3://bucket[/prefix]``: bucket names are 3-63 lower-case letters, digits, dots and hyphens.
LOCATION_RE = re.compile(r"^s3a?://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$")


def _all_locations() -> dict[str, Any]:
    raw = settings().value(SETTINGS_KEY)
    try:
        data = json.loads(str(raw)) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def load_location(location: str) -> S3Location | None:
    """The saved settings of an S3 catalog opened before, or ``None``."""
    data = _all_locations().get(location.rstrip("/"))
    return S3Location.from_dict(data) if isinstance(data, dict) else None


def save_location(spec: S3Location) -> None:
    """Remember how to reach ``spec.location`` (for the recent catalogs). Contains no secret."""
    data = _all_locations()
    data[spec.location.rstrip("/")] = spec.to_dict()
    settings().setValue(SETTINGS_KEY, json.dumps(data, sort_keys=True))


class S3Dialog(QDialog):
    """Open (or create) a catalog on S3-compatible storage.

    Parameters
    ----------
    engine
        The window's engine thread (tests, the connection check and the open run there).
    initial
        Settings to start from (a recent location), else the last ones used.

    Signals
    -------
    checked(object)
        An :class:`~genocat_desktop.app.storage.AccessResult` is shown (Test connection).
    opened(object)
        ``(Session, CatalogSummary)`` of the opened catalog; the dialog then closes.
    open_failed(object)
        The :class:`AccessResult` of a failed open (shown in the dialog, which stays open).
    """

    checked = Signal(object)
    opened = Signal(object)
    open_failed = Signal(object)

    def __init__(self, engine: EngineThread, initial: S3Location | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open S3 catalog")
        self.setModal(True)
        self.engine = engine
        self.job: Job | None = None
        self.result_kind: str | None = None
        #: A warning from the last open (e.g. the keyring could not store the key), for the window.
        self.warning = ""
        self._path_style_touched = False
        self._build()
        if initial is None:
            last = settings().value("catalogs/s3_last")
            initial = load_location(str(last)) if last else None
        if initial is not None:
            self.set_location(initial)
        self._update_controls()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        form = self._build_location_form()
        creds = self._build_credentials()
        self.create_check = QCheckBox("&Create a new catalog here if there is none")
        self.create_check.setToolTip("Otherwise a location without a catalog is reported, not created")

        self.result_title = QLabel("")
        self.result_title.setTextFormat(Qt.TextFormat.RichText)
        self.result_text = QLabel("")
        self.result_text.setWordWrap(True)
        self.result_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        bottom = self._build_bottom()
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(creds)
        layout.addWidget(self.create_check)
        layout.addWidget(self.result_title)
        layout.addWidget(self.result_text)
        layout.addStretch(1)
        layout.addLayout(bottom)
        self.setMinimumWidth(600)

        for edit in (self.location_edit, self.endpoint_edit):
            edit.textChanged.connect(self._on_where_changed)
        for edit in (self.key_edit, self.secret_edit, self.region_edit, self.profile_edit):
            edit.textChanged.connect(lambda _t: self._update_controls())
        self.chain_radio.toggled.connect(lambda _on: self._update_controls())
        self.keys_radio.toggled.connect(lambda on: on and self._look_up_stored_key())
        self.http_check.toggled.connect(lambda _on: self._update_controls())

    def _build_location_form(self) -> QFormLayout:
        """Where the catalog is: location, endpoint, region, addressing, HTTP."""
        self.location_edit = QLineEdit()
        self.location_edit.setPlaceholderText("s3://bucket/prefix")
        self.location_edit.setToolTip("The catalog's location: s3://BUCKET/folder/inside/the/bucket")
        self.endpoint_edit = QLineEdit()
        self.endpoint_edit.setPlaceholderText("empty for AWS; e.g. https://minio.lab.example:9000")
        self.endpoint_edit.setToolTip(
            "The address of an S3-compatible store (MinIO, Ceph, SeaweedFS, Garage...). Leave empty for AWS S3."
        )
        self.region_edit = QLineEdit()
        self.region_edit.setPlaceholderText("us-east-1")
        self.region_edit.setToolTip("The bucket's region (AWS); most self-hosted stores accept any value")
        self.path_style_check = QCheckBox("Path-style addressing (host/bucket/key)")
        self.path_style_check.setToolTip(
            "Most self-hosted stores need it; AWS prefers bucket.host addressing. On by default when an\n"
            "endpoint is given."
        )
        self.path_style_check.clicked.connect(self._touch_path_style)
        self.http_check = QCheckBox("Allow plain HTTP (credentials and data travel unencrypted)")
        self.http_check.setToolTip("Needed for an http:// endpoint; use only on a trusted network")
        form = QFormLayout()
        form.addRow("&Location", self.location_edit)
        form.addRow("&Endpoint URL", self.endpoint_edit)
        form.addRow("&Region", self.region_edit)
        form.addRow("", self.path_style_check)
        form.addRow("", self.http_check)
        return form

    def _build_credentials(self) -> QGroupBox:
        """The default AWS chain (a profile) or an access key, kept in the keyring if asked."""
        creds = QGroupBox("Credentials")
        self.chain_radio = QRadioButton("AWS &default chain (environment variables, ~/.aws profile)")
        self.chain_radio.setToolTip("AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, else the profile in ~/.aws/credentials")
        self.keys_radio = QRadioButton("&Access key")
        self.keys_radio.setToolTip("A key typed here, or the one kept in the system keyring for this bucket")
        group = QButtonGroup(self)
        group.addButton(self.chain_radio)
        group.addButton(self.keys_radio)
        self.chain_radio.setChecked(True)
        self.profile_edit = QLineEdit()
        self.profile_edit.setPlaceholderText("default (or $AWS_PROFILE)")
        self.profile_edit.setToolTip("A profile name in ~/.aws/credentials")
        self.key_edit = QLineEdit()
        self.key_edit.setPlaceholderText("access key ID")
        self.key_edit.setToolTip("The access key ID (e.g. AKIA…)")
        self.secret_edit = QLineEdit()
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret_edit.setPlaceholderText("secret access key")
        self.secret_edit.setToolTip("Never written to the settings file or the log")
        self.remember_check = QCheckBox("Remember in the system &keyring")
        self.remember_check.setToolTip(
            "Keep the key in the operating system's keyring (Secret Service, KWallet, macOS Keychain,\n"
            "Windows Credential Locker) so that reopening this catalog does not ask again."
        )
        self.remember_check.setChecked(True)
        self.stored_label = QLabel("")
        self.stored_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.stored_label.setWordWrap(True)
        self.forget_button = QPushButton("Forget stored key")
        self.forget_button.setToolTip("Remove this bucket's key from the system keyring")
        self.forget_button.clicked.connect(lambda: self.forget_key())
        self.forget_button.setVisible(False)
        cform = QFormLayout()
        cform.addRow("Profile", self.profile_edit)
        keys = QFormLayout()
        keys.addRow("Access key ID", self.key_edit)
        keys.addRow("Secret", self.secret_edit)
        keys.addRow("", self.remember_check)
        stored = QHBoxLayout()
        stored.addWidget(self.stored_label, 1)
        stored.addWidget(self.forget_button)
        keys.addRow("", stored)
        cv = QVBoxLayout(creds)
        cv.addWidget(self.chain_radio)
        self.chain_box = QWidget()
        self.chain_box.setLayout(cform)
        cform.setContentsMargins(24, 0, 0, 0)
        cv.addWidget(self.chain_box)
        cv.addWidget(self.keys_radio)
        self.keys_box = QWidget()
        self.keys_box.setLayout(keys)
        keys.setContentsMargins(24, 0, 0, 0)
        cv.addWidget(self.keys_box)
        return creds

    def _build_bottom(self) -> QHBoxLayout:
        """Test connection, Open and Cancel."""
        self.test_button = QPushButton("&Test connection")
        self.test_button.setToolTip("Check that the bucket exists and the credentials may read it (a few seconds)")
        self.test_button.clicked.connect(lambda: self.test_connection())
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        self.open_button = self.buttons.button(QDialogButtonBox.StandardButton.Open)
        self.open_button.setToolTip("Open the catalog (create it if asked) and show it in the window")
        self.buttons.accepted.connect(lambda: self.open_catalog())
        self.buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.test_button)
        bottom.addStretch(1)
        bottom.addWidget(self.buttons)
        return bottom

    # ------------------------------------------------------------------ state
    def _touch_path_style(self) -> None:
        self._path_style_touched = True

    def _on_where_changed(self) -> None:
        if not self._path_style_touched:
            # Self-hosted stores (an endpoint) want path style; AWS virtual-hosted.
            self.path_style_check.setChecked(bool(self.endpoint_edit.text().strip()))
        self.stored_label.setText("")
        self.forget_button.setVisible(False)
        self._update_controls()
        if self.keys_radio.isChecked():
            self._look_up_stored_key()

    def _valid_location(self) -> bool:
        return bool(LOCATION_RE.match(self.location_edit.text().strip()))

    def _update_controls(self) -> None:
        keys = self.keys_radio.isChecked()
        self.chain_box.setEnabled(not keys)
        self.keys_box.setEnabled(keys)
        busy = self.job is not None and not self.job.done
        ok = self._valid_location()
        self.test_button.setEnabled(ok and not busy)
        self.open_button.setEnabled(ok and not busy)
        if not ok and self.location_edit.text().strip():
            self._show("error", "Not an S3 location", "Write s3://BUCKET/prefix (a bucket name in lower case).")
        elif ok and self.result_kind == "error" and self.result_title.text().endswith("Not an S3 location</b>"):
            self._show("", "", "")

    def location(self) -> S3Location:
        """The dialog's settings (no secret)."""
        endpoint = self.endpoint_edit.text().strip().rstrip("/") or None
        return S3Location(
            location=self.location_edit.text().strip().rstrip("/"),
            endpoint=endpoint,
            region=self.region_edit.text().strip() or None,
            allow_http=self.http_check.isChecked(),
            path_style=self.path_style_check.isChecked(),
            credentials="keys" if self.keys_radio.isChecked() else "chain",
            profile=self.profile_edit.text().strip() or None,
            remember=self.remember_check.isChecked(),
        )

    def set_location(self, spec: S3Location) -> None:
        """Fill the dialog from saved settings (the secret fields stay empty)."""
        self._path_style_touched = True
        self.location_edit.setText(spec.location)
        self.endpoint_edit.setText(spec.endpoint or "")
        self.region_edit.setText(spec.region or "")
        self.path_style_check.setChecked(spec.path_style)
        self.http_check.setChecked(spec.allow_http)
        self.profile_edit.setText(spec.profile or "")
        self.remember_check.setChecked(spec.remember)
        (self.keys_radio if spec.credentials == "keys" else self.chain_radio).setChecked(True)
        if spec.credentials == "keys":
            self._look_up_stored_key()

    def _typed(self) -> tuple[str, str]:
        if not self.keys_radio.isChecked():
            return "", ""
        return self.key_edit.text().strip(), self.secret_edit.text()

    def _show(self, kind: str, title: str, text: str) -> None:
        self.result_kind = kind or None
        colour = {"ok": ok_color, "busy": muted_color, "error": error_color}.get(kind, muted_color)()
        self.result_title.setText(f"<b style='color:{colour}'>{html.escape(title)}</b>" if title else "")
        self.result_text.setText(text)

    def _show_result(self, result: AccessResult) -> None:
        text = (f"{result.message} (answered in {result.seconds:.1f} s"
                + (f"; credentials: {result.source}" if result.source else "") + ").")
        if result.hint:
            text += "\n" + result.hint
        self._show("ok" if result.ok else "error", result.title, text)

    # ------------------------------------------------------------------ keyring
    def _look_up_stored_key(self) -> Job | None:
        spec = self.location()
        if not spec.bucket:
            return None
        job = self.engine.submit("s3-keyring", "Looking in the keyring",
                                 stored_key_job(spec.endpoint, spec.bucket), supersede=True)
        job.finished.connect(self._on_stored_key)
        return job

    def _on_stored_key(self, key_id: str | None) -> None:
        if key_id:
            shown = key_id[:4] + "…" + key_id[-4:] if len(key_id) > 10 else key_id
            self.stored_label.setText(f"Key {shown} is stored in the keyring for this bucket: leave the fields "
                                      "empty to use it.")
        else:
            self.stored_label.setText("No key is stored in the keyring for this bucket.")
        self.forget_button.setVisible(bool(key_id))

    def forget_key(self) -> Job:
        """Remove the stored key of this endpoint and bucket from the keyring."""
        spec = self.location()
        job = self.engine.submit("s3-keyring", "Removing the stored key", forget_key_job(spec.endpoint, spec.bucket))
        job.finished.connect(lambda had: self._on_stored_key(None))
        job.finished.connect(lambda had: self.stored_label.setText(
            "The stored key was removed from the keyring." if had else "No key was stored."))
        return job

    # ------------------------------------------------------------------ actions
    def test_connection(self) -> Job | None:
        """Check access on the engine thread; the answer is shown in the dialog (and ``checked`` emitted)."""
        if not self._valid_location():
            return None
        spec = self.location()
        key, secret = self._typed()
        job = self.engine.submit("s3-check", f"Checking {spec.location}", check_access_job(spec, key, secret),
                                 supersede=True)
        self.job = job
        self._show("busy", "Checking…", f"Connecting to {spec.endpoint or 'AWS S3'}…")
        job.finished.connect(self._on_checked)
        job.failed.connect(lambda m, d: self._on_job_failed(m))
        self._update_controls()
        return job

    def _on_checked(self, result: AccessResult) -> None:
        self._show_result(result)
        self._update_controls()
        self.checked.emit(result)

    def _on_job_failed(self, message: str) -> None:
        self._show("error", "Unexpected error", message)
        self._update_controls()

    def open_catalog(self) -> Job | None:
        """Open (or create) the catalog on the engine thread; on success emit ``opened`` and close."""
        if not self._valid_location() or (self.job is not None and not self.job.done):
            return None
        spec = self.location()
        key, secret = self._typed()
        create = self.create_check.isChecked()
        job = self.engine.submit("open", f"Opening {spec.location}", open_s3_job(spec, key, secret, create=create))
        self.job = job
        self._show("busy", "Opening…", f"{'Opening or creating' if create else 'Opening'} {spec.location}…")
        job.finished.connect(lambda outcome: self._on_opened(spec, outcome))
        job.failed.connect(lambda m, d: self._on_job_failed(m))
        job.cancelled.connect(lambda: self._discard(job))
        self._update_controls()
        return job

    @staticmethod
    def _discard(job: Job) -> None:
        # Cancel came after the catalog was opened: nobody will use that session.
        if isinstance(job.result, S3Opened) and job.result.session is not None:
            job.result.session.close()

    def reject(self) -> None:
        """Cancel: stop a running open (its catalog is not shown) and close."""
        if self.job is not None and not self.job.done:
            self.engine.cancel(self.job)
        self.secret_edit.clear()
        super().reject()

    def _on_opened(self, spec: S3Location, outcome: S3Opened) -> None:
        self._update_controls()
        if outcome.session is None:
            self._show_result(outcome.access)
            self.open_failed.emit(outcome.access)
            return
        save_location(spec)
        settings().setValue("catalogs/s3_last", spec.location)
        self.warning = outcome.warning
        # The secret leaves the widgets as soon as it is no longer needed.
        self.secret_edit.clear()
        self.opened.emit((outcome.session, outcome.summary))
        self.accept()
