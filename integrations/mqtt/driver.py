"""The MQTT driver: devices from discovery sources, state from their topics, commands out.

Sources (Home Assistant discovery, Zigbee2MQTT, Tasmota) turn retained discovery messages
into ``Entity``s; a ``Catalog`` (the daemon's side: registry plus config overrides) decides
whether and under which name each one becomes a device. From then on the driver routes
state and availability messages to the registry, and turns commands into QoS 1 publishes.

A command is *confirmed* when the device reports the commanded state within
``confirm_timeout`` seconds; otherwise ``Unconfirmed`` says it was sent but not confirmed.
A device that never reports state (no state topic) is updated optimistically.

Every bad payload is rejected with one rate-limited log line naming the topic; the other
devices keep working.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import paho.mqtt.client as paho

from integrations.base import DriverError, StateSink, Unreachable, Unsupported

from .complaints import Complaints
from .confirm import Waiters
from .entity import AvailabilityTopic, Entity, PayloadError, SourceUpdate, decode_text
from .errors import MqttError

if TYPE_CHECKING:
    from assistant.messages import DeviceCommand

    from .connection import MqttConnection
    from .model import Message
    from .subscription import Listener

__all__ = ["Catalog", "MqttDriver", "Source", "Unavailable", "Unconfirmed"]

_LOGGER = logging.getLogger(__name__)
_INLINE_PAYLOAD = 64 * 1024
"""Bytes; a larger discovery payload is parsed in a worker thread."""
_BATCH = 100
"""Entities adopted between two yields to the event loop."""


class Unavailable(Unreachable):
    """The device (or the broker) says it is offline; nothing was sent."""

    code = "unavailable"


class Unconfirmed(DriverError):
    """The command was sent (or queued), but the device has not reported the new state."""

    code = "unconfirmed"

    def __init__(self, message: str, *, queued: bool = False) -> None:
        super().__init__(message)
        self.queued = queued
        if queued:
            self.code = "queued"


class Source(Protocol):
    """A device source: discovery topics in, entities out."""

    topics: tuple[str, ...]

    def handle(self, topic: str, payload: bytes) -> SourceUpdate: ...


class Catalog(Protocol):
    """The daemon's side: turns entities into registry devices (or hides them)."""

    def adopt(self, entity: Entity) -> bool:
        """Add or replace ``entity.device_id`` in the registry; False when hidden."""

    def forget(self, device_id: str) -> None:
        """Remove a device whose entity is gone."""


@dataclass(slots=True)
class _Tracked:
    entity: Entity
    availability: dict[str, bool]
    """Availability topic -> what it last said."""
    latest: bool | None = None
    reported: bool = False
    """Whether a state message has arrived since the entity was adopted."""


class MqttDriver:
    """Implements ``integrations.base.Driver`` for every MQTT device."""

    def __init__(
        self,
        connection: MqttConnection,
        sink: StateSink,
        catalog: Catalog,
        sources: Sequence[Source],
        *,
        entities: Sequence[Entity] = (),
        confirm_timeout: float = 2.0,
    ) -> None:
        """``entities``: devices written by hand in config (no discovery needed)."""
        self._mqtt = connection
        self._sink = sink
        self._catalog = catalog
        self._sources = list(sources)
        self._manual = list(entities)
        self._confirm_timeout = confirm_timeout
        self._tracked: dict[str, _Tracked] = {}
        self._state_routes: dict[str, list[str]] = {}
        """State topic -> device ids."""
        self._avail_routes: dict[str, list[str]] = {}
        self._topics_of: dict[str, tuple[str, ...]] = {}
        """Device id -> its state and availability topics (to unroute without a scan)."""
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        """Discovery messages, handled in order by one worker task."""
        self._working = False
        self._claimed: set[str] = set()
        """Keys (``z2m:<ieee>``, ...) of devices a native source already provides."""
        self._discovery: Listener | None = None
        self._states: Listener | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._waiters = Waiters()
        self._complaints = Complaints(_LOGGER)
        self._last_message = time.monotonic()
        connection.connection_listeners.append(self._connection_changed)

    # -- Driver ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to discovery and to the hand-written devices' topics."""
        self._states = await self._mqtt.listen([], self._on_state)
        for entity in self._manual:
            self._adopt(entity)
        await self._flush()
        topics = [t for source in self._sources for t in source.topics]
        self._schedule(self._discover())
        self._discovery = await self._mqtt.listen(topics, self._inbox.put_nowait)

    async def stop(self) -> None:
        for listener in (self._discovery, self._states):
            if listener is not None:
                listener.close()
        for task in self._pending:
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)

    async def refresh(self, device_id: str) -> None:
        """State arrives by itself on MQTT. A device that has reported nothing yet (Zigbee2MQTT
        does not retain states) is asked once, if its source can ask, and given
        ``confirm_timeout`` to answer; it may stay unknown."""
        entity = self._require_available(device_id)
        tracked = self._tracked[device_id]
        if not entity.query or tracked.reported or not self._mqtt.connected:
            return
        waiter = self._waiters.expect(device_id, ())
        try:
            await self._publish(entity.query)
            await waiter.wait(self._confirm_timeout)
        finally:
            self._waiters.discard(waiter)

    async def execute(self, device_id: str, commands: Sequence[DeviceCommand]) -> None:
        entity = self._require_available(device_id)
        try:
            publishes = entity.encode(commands)
        except PayloadError as err:  # a command template that fails on this value
            raise Unsupported(f"cannot encode the command: {err}") from err
        waiter = (
            self._waiters.expect(device_id, commands, entity.spec) if entity.reports_state else None
        )
        try:
            queued = await self._publish(publishes)
            if queued:
                raise Unconfirmed("will get it when the broker is back", queued=True)
            if waiter is None:
                self._sink.update_state(device_id, _optimistic(commands))
                return
            if not await waiter.wait(self._confirm_timeout):
                raise Unconfirmed("has not confirmed")
        finally:
            if waiter is not None:
                self._waiters.discard(waiter)

    # -- waiting for retained messages -----------------------------------------------------

    async def settle(self, *, quiet: float = 0.2, limit: float = 2.0) -> bool:
        """Wait until discovery and state messages stop arriving (``quiet`` seconds without
        one), at most ``limit`` seconds; True when it settled in time."""
        deadline = time.monotonic() + limit
        self._last_message = time.monotonic()
        while True:
            await self._flush()
            now = time.monotonic()
            if now >= deadline:
                return False
            idle = now - self._last_message
            busy = self._working or not self._inbox.empty()
            if idle >= quiet and not busy and not self._flushing():
                return True
            await asyncio.sleep(min(quiet - idle if idle < quiet else 0.02, deadline - now))

    # -- discovery -------------------------------------------------------------------------

    async def _discover(self) -> None:
        """The discovery worker: one message at a time, in arrival order. A large payload
        (a Zigbee2MQTT device list) is parsed in a thread; many entities are adopted in
        batches, so a 1000-device list never holds the loop for long."""
        while True:
            message = await self._inbox.get()
            self._working = True
            try:
                self._last_message = time.monotonic()
                update = await self._handle(message)
                if update is not None:
                    await self._apply(update)
                    await self._flush()
            except Exception:  # noqa: BLE001 - the worker must outlive any one message
                _LOGGER.exception("MQTT discovery message on %s failed", message.topic)
            finally:
                self._working = False

    async def _handle(self, message: Message) -> SourceUpdate | None:
        for source in self._sources:
            if any(paho.topic_matches_sub(f, message.topic) for f in source.topics):
                try:
                    if len(message.payload) > _INLINE_PAYLOAD:
                        update = await asyncio.to_thread(
                            source.handle, message.topic, message.payload
                        )
                    else:
                        update = source.handle(message.topic, message.payload)
                except PayloadError as err:
                    self._complaints.add(message.topic, str(err))
                    return None
                for problem in getattr(source, "last_problems", ()) or ():
                    self._complaints.add(message.topic, problem)
                return update
        return None

    async def _apply(self, update: SourceUpdate) -> None:
        for unique_id in update.removed:
            self._drop(f"mqtt:{unique_id}")
        for index, entity in enumerate(update.added):
            if index and index % _BATCH == 0:
                await asyncio.sleep(0)  # let turns and state messages through
            if entity.source != "hass":
                self._claimed.update(k for k in entity.keys if ":" in k)
            elif self._claimed.intersection(entity.keys):
                _LOGGER.debug("%s: already provided by its native source", entity.name)
                continue
            self._adopt(entity)

    def _adopt(self, entity: Entity) -> None:
        device_id = entity.device_id
        old = self._tracked.get(device_id)
        if old is not None and old.entity == entity:
            return
        self._unroute(device_id)
        if not self._catalog.adopt(entity):
            self._tracked.pop(device_id, None)
            return
        previous = old.availability if old is not None else {}
        kept = {a.topic: previous[a.topic] for a in entity.availability if a.topic in previous}
        reported = old.reported if old is not None else False
        self._tracked[device_id] = _Tracked(entity, kept, reported=reported)
        for topic in entity.state:
            self._state_routes.setdefault(topic, []).append(device_id)
        for avail in entity.availability:
            self._avail_routes.setdefault(avail.topic, []).append(device_id)
        self._topics_of[device_id] = (*entity.state, *(a.topic for a in entity.availability))
        self._publish_availability(device_id)

    def _drop(self, device_id: str) -> None:
        if self._tracked.pop(device_id, None) is not None:
            self._unroute(device_id)
            self._catalog.forget(device_id)

    def _unroute(self, device_id: str) -> None:
        for topic in self._topics_of.pop(device_id, ()):
            for routes in (self._state_routes, self._avail_routes):
                ids = routes.get(topic)
                if ids is not None and device_id in ids:
                    ids.remove(device_id)
                    if not ids:
                        del routes[topic]

    def _flushing(self) -> bool:
        """Whether subscriptions still lag behind the routes."""
        if self._states is None:
            return False
        wanted = self._state_routes.keys() | self._avail_routes.keys()
        return wanted != self._states.filters

    async def _flush(self) -> None:
        """Make the state listener's filters match the routes (subscribe/unsubscribe)."""
        if self._states is None:
            return
        wanted = set(self._state_routes) | set(self._avail_routes)
        self._states.remove([t for t in self._states.filters if t not in wanted])
        await self._states.add(sorted(wanted - self._states.filters))

    # -- state and availability ------------------------------------------------------------

    def _on_state(self, message: Message) -> None:
        self._last_message = time.monotonic()
        for device_id in self._avail_routes.get(message.topic, ()):
            self._on_availability(device_id, message)
        for device_id in self._state_routes.get(message.topic, ()):
            tracked = self._tracked[device_id]
            try:
                values = tracked.entity.state[message.topic](message.payload)
            except PayloadError as err:
                self._complaints.add(message.topic, str(err))
                continue
            if values:
                tracked.reported = True
                self._sink.update_state(device_id, values, available=self._available(tracked))
                self._waiters.reported(device_id, values)

    def _on_availability(self, device_id: str, message: Message) -> None:
        tracked = self._tracked[device_id]
        for avail in tracked.entity.availability:
            if avail.topic != message.topic:
                continue
            try:
                said = _availability_word(avail, message.payload)
            except PayloadError as err:
                self._complaints.add(message.topic, str(err))
                return
            tracked.availability[avail.topic] = said
            tracked.latest = said
        self._publish_availability(device_id)

    def _available(self, tracked: _Tracked) -> bool:
        if not self._mqtt.connected:
            return False
        entity = tracked.entity
        if not entity.availability:
            return True
        said = tracked.availability
        if entity.availability_mode == "all":
            return all(said.get(a.topic, False) for a in entity.availability)
        if entity.availability_mode == "any":
            return any(said.values())
        return bool(tracked.latest)

    def _publish_availability(self, device_id: str) -> None:
        self._sink.set_available(device_id, self._available(self._tracked[device_id]))

    def _connection_changed(self, connected: bool) -> None:
        for device_id in self._tracked:
            self._publish_availability(device_id)

    def _require_available(self, device_id: str) -> Entity:
        tracked = self._tracked.get(device_id)
        if tracked is None:
            raise Unavailable("is gone from the broker")
        if self._mqtt.connected and not self._available(tracked):
            raise Unavailable("is offline")
        return tracked.entity

    # -- publishing ------------------------------------------------------------------------

    async def _publish(self, publishes: Sequence[Any]) -> bool:
        """Send every message (QoS 1); True when they were queued for after a reconnect."""
        try:
            deliveries = [
                await self._mqtt.publish(p.topic, p.payload, qos=1, retain=p.retain)
                for p in publishes
            ]
        except MqttError as err:
            raise Unreachable("could not be sent the command") from err
        if any(d.queued for d in deliveries):
            return True
        for delivery in deliveries:
            if not await delivery.wait(self._confirm_timeout):
                return True  # not acknowledged yet: paho resends it after a reconnect
        return False

    def _schedule(self, job: Any) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # -- for the daemon --------------------------------------------------------------------

    def entities(self) -> Mapping[str, Entity]:
        """Device id -> its entity, for every adopted device."""
        return {device_id: t.entity for device_id, t in self._tracked.items()}


def _availability_word(avail: AvailabilityTopic, payload: bytes) -> bool:
    word = avail.value(payload) if avail.value is not None else decode_text(payload).strip()
    if word == avail.available:
        return True
    if word == avail.unavailable:
        return False
    raise PayloadError(
        f"availability {word[:40]!r} is neither {avail.available!r} nor {avail.unavailable!r}"
    )


def _optimistic(commands: Sequence[DeviceCommand]) -> dict[str, Any]:
    """The state a device without a state topic is assumed to be in after ``commands``."""
    values = {c.trait: c.value for c in commands if c.trait not in ("cover", "vacuum")}
    for command in commands:
        if command.trait == "cover" and command.value in ("open", "close"):
            values["cover"] = "open" if command.value == "open" else "closed"
    return values
