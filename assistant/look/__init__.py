"""Eyes: camera pictures as small JPEG frames for the vision model.

Sources (one module each): HTTP snapshots (:mod:`.snapshot`), MJPEG streams (:mod:`.mjpeg`),
RTSP streams and files through PyAV (:mod:`.video`), MQTT image topics (:mod:`.mqtt_image`).
:mod:`.frames` decodes, scales and re-encodes; :mod:`.cameras` is the registry the pipeline
uses::

    async with Cameras.from_settings(settings, mqtt=connection) as cameras:
        for camera in cameras.find("is anyone at the front door?", area="Hall"):
            frame = await cameras.frame(camera.name, turn_id=turn_id)  # or LookError
"""

from .cameras import Camera, Cameras
from .errors import LookError
from .frames import MAX_IMAGE_BYTES, Frame

__all__ = ["Camera", "Cameras", "Frame", "LookError", "MAX_IMAGE_BYTES"]
