"""The DICOM receiver: a pynetdicom Storage SCP that feeds the inbox.

C-ECHO, and C-STORE for the image storage classes a department sends (CT, MR, CR/DX, US,
secondary capture, enhanced and multi-frame) and for Key Object Selection documents (a study's
key images, ``cases/inbox/keyobjects.py``), in the uncompressed syntaxes and those pydicom can
decode here (JPEG, JPEG-LS, JPEG 2000, RLE through pylibjpeg). Each instance goes through
``instance_receive`` (a key object through ``key_object_receive``) before the C-STORE is
answered: success only once it is committed, a failure status otherwise.

Who may associate: calling AE titles on ``DICOM_ALLOWED_AES`` ("AE" or "AE@address"); an
empty list lets only loopback peers in, and only when HTTPS is off (development).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from pydicom import uid as uids
from pydicom.pixels import get_decoder
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from cases.imaging.ingest import ImageRejected

from .keyobjects import KEY_OBJECT_SELECTION
from .models import InboxStudy
from .receive import Outcome, instance_receive, key_object_receive, study_assemble

logger = logging.getLogger(__name__)

# C-STORE statuses (PS3.4 Annex B.2.3).
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000

IMAGE_STORAGE = (
    "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray, for presentation
    "1.2.840.10008.5.1.4.1.1.1.1.1",  # Digital X-Ray, for processing
    "1.2.840.10008.5.1.4.1.1.1.2",  # Digital Mammography, for presentation
    "1.2.840.10008.5.1.4.1.1.1.3",  # Digital Intra-Oral X-Ray, for presentation
    "1.2.840.10008.5.1.4.1.1.2",  # CT
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT
    "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame
    "1.2.840.10008.5.1.4.1.1.4",  # MR
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR
    "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.1",  # Multi-frame Single Bit SC
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte SC
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word SC
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color SC
    "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic
    "1.2.840.10008.5.1.4.1.1.12.2",  # X-Ray Radiofluoroscopic
    "1.2.840.10008.5.1.4.1.1.20",  # Nuclear Medicine
    "1.2.840.10008.5.1.4.1.1.128",  # PET
)

_UNCOMPRESSED = (
    uids.ImplicitVRLittleEndian,
    uids.ExplicitVRLittleEndian,
    uids.DeflatedExplicitVRLittleEndian,
    uids.ExplicitVRBigEndian,
)


def transfer_syntaxes() -> list[str]:
    """The uncompressed syntaxes, then every compressed one a pixel decoder here handles."""
    compressed = []
    for syntax in ALL_TRANSFER_SYNTAXES:
        uid = uids.UID(syntax)
        if uid in _UNCOMPRESSED or not uid.is_compressed:
            continue
        try:
            if get_decoder(uid).is_available:
                compressed.append(str(uid))
        except NotImplementedError:
            continue  # no decoder at all in pydicom (e.g. MPEG video)
    return [str(s) for s in _UNCOMPRESSED] + compressed


@dataclass(frozen=True)
class AllowedPeer:
    ae_title: str
    address: str = ""  # any address when empty

    @classmethod
    def parse(cls, text: str) -> AllowedPeer:
        title, _, address = text.strip().partition("@")
        return cls(title.strip(), address.strip())


def peer_allowed(*, ae_title: str, address: str, allowed: Iterable[str], development: bool) -> bool:
    """Whether a calling AE at ``address`` may associate."""
    peers = [AllowedPeer.parse(item) for item in allowed if item.strip()]
    if not peers:
        return development and _is_loopback(address)
    title = ae_title.strip()
    return any(p.ae_title == title and (not p.address or p.address == address) for p in peers)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@dataclass
class Receiver:
    """A running receiver: its server, and the studies each open association touched."""

    ae_title: str
    allowed: list[str]
    development: bool
    server: ThreadedAssociationServer | None = None
    touched: dict[int, set[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- handlers, run in each association's thread --

    def on_requested(self, event) -> None:
        requestor = event.assoc.requestor
        # Negotiation has not run yet: the calling AE title is only in the request.
        calling = str(requestor.primitive.calling_ae_title).strip()
        if not peer_allowed(
            ae_title=calling,
            address=requestor.address,
            allowed=self.allowed,
            development=self.development,
        ):
            logger.warning(
                "association refused: calling AE %r at %s is not allowed",
                calling,
                requestor.address,
            )
            # Rejected permanent, by the service user, calling AE title not recognised; kill()
            # waits until the rejection is sent, as pynetdicom's own negotiation does.
            event.assoc.acse.send_reject(0x01, 0x01, 0x03)
            event.assoc.kill()

    def on_echo(self, event) -> int:
        return SUCCESS

    def on_store(self, event) -> int | tuple:
        close_old_connections()
        calling = event.assoc.requestor.ae_title.strip()
        receive = (
            key_object_receive
            if event.request.AffectedSOPClassUID == KEY_OBJECT_SELECTION
            else instance_receive
        )
        try:
            data = event.encoded_dataset(include_meta=True)
            received = receive(data=data, calling_ae=calling, name="instance")
        except ImageRejected as exc:
            logger.warning("C-STORE from %s refused: %s", calling, exc.reason)
            return CANNOT_UNDERSTAND
        except (DatabaseError, OSError) as exc:
            # Never a success for something not stored: the sender keeps it and retries.
            logger.error("C-STORE from %s failed: %s: %s", calling, type(exc).__name__, exc)
            return OUT_OF_RESOURCES
        except Exception:
            logger.exception("C-STORE from %s failed", calling)
            return CANNOT_UNDERSTAND
        if received.study_id is not None:
            with self.lock:
                self.touched.setdefault(id(event.assoc), set()).add(received.study_id)
        if received.outcome == Outcome.DUPLICATE:
            logger.info("C-STORE from %s: duplicate instance, kept the stored one", calling)
        return SUCCESS

    def on_closed(self, event) -> None:
        """The association ended (released, aborted or cut): assemble what it sent."""
        with self.lock:
            studies = self.touched.pop(id(event.assoc), set())
        try:
            for study_id in sorted(studies):
                try:
                    study_assemble(study_id=study_id)
                except Exception:
                    # The idle sweep assembles it later; the instances are stored already.
                    logger.exception("assembling study %s failed", study_id)
        finally:
            connections.close_all()

    # -- running --

    def handlers(self) -> list:
        return [
            (evt.EVT_REQUESTED, self.on_requested),
            (evt.EVT_C_ECHO, self.on_echo),
            (evt.EVT_C_STORE, self.on_store),
            (evt.EVT_CONN_CLOSE, self.on_closed),
        ]

    def start(self, *, bind: str, port: int) -> ThreadedAssociationServer:
        ae = AE(ae_title=self.ae_title)
        ae.maximum_associations = 16
        ae.network_timeout = 60
        ae.dimse_timeout = 60
        ae.acse_timeout = 30
        syntaxes = transfer_syntaxes()
        ae.add_supported_context(Verification, ALL_TRANSFER_SYNTAXES)
        for sop_class in (*IMAGE_STORAGE, KEY_OBJECT_SELECTION):
            ae.add_supported_context(sop_class, syntaxes)
        self.server = ae.start_server((bind, port), block=False, evt_handlers=self.handlers())
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server = None


def receiver_from_settings(*, ae_title: str | None = None) -> Receiver:
    return Receiver(
        ae_title=ae_title or settings.DICOM_AE_TITLE,
        allowed=list(settings.DICOM_ALLOWED_AES),
        development=not settings.HTTPS,
    )


def studies_pending_assemble() -> list[int]:
    """Studies stored but never assembled (say, the receiver was stopped mid-association)."""
    return [
        s.pk
        for s in InboxStudy.objects.only("pk", "assembled", "last_received")
        if s.needs_assembly
    ]
