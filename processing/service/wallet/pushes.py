"""The wallet worker (decision 0029): each change the outbox relay queued for a customer who
holds a pass is taken under a lease; each of the customer's passes is built as it is now (its
tag moves when what it shows changed) and every device registered for a pass whose tag passed
the one it was last pushed for gets one push. Never on the request path.

A device is pushed once per tag: its registration remembers the tag it was pushed for, so a
change retried after a failure pushes only the devices still behind, and two changes that
reach the worker together push once. A device APNs calls gone (410) is unregistered. A change
whose pushes failed is tried again with a growing backoff, and dropped (logged) after
``attempts_max``; the next change of the customer pushes whatever is still behind.
"""

import asyncio
from uuid import UUID

import msgspec
import structlog

from processing.service.ports import PassPush, PushResult, Store, WalletChange
from processing.service.wallet.apple import AppleWallet

log = structlog.get_logger("wallet_pushes")
lease_seconds = 60.0
backoff_base_seconds = 5.0
backoff_cap_seconds = 600.0
attempts_max = 8
changes_per_batch = 50


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """One device to push for one pass at one tag."""

    serial_number: UUID
    tag: int
    device: str
    token: str
    topic: str


class WalletPushes:
    def __init__(self, wallet: AppleWallet, push: PassPush | None) -> None:
        self.wallet = wallet
        self.database = wallet.database
        self.push = push

    async def run_once(self) -> int:
        """Works through one batch of due changes; returns how many it took."""
        async with self.database.transaction() as store:
            changes = await store.lease_wallet_changes(changes_per_batch, lease_seconds)
        for change in changes:
            await self.settle(change, await self.apply(change))
        return len(changes)

    async def run_forever(self, idle_seconds: float) -> None:
        while True:
            try:
                taken = await self.run_once()
            except Exception:  # an outage: logged, and the loop goes on after a pause
                log.exception("wallet_pushes_failed")
                taken = 0
            if taken == 0:
                await asyncio.sleep(idle_seconds)

    async def targets(self, store: Store, change: WalletChange) -> list[Target]:
        found: list[Target] = []
        for row in await store.customer_wallet_passes(change.customer_id, change.program_id):
            settings = await store.wallet_settings(row.program_id)
            if settings is None:
                continue
            built = await self.wallet.build(store, settings, row)
            tag = built.row.updated_tag
            for device in await store.wallet_devices_behind(row.serial_number, tag):
                found.append(
                    Target(
                        serial_number=row.serial_number,
                        tag=tag,
                        device=device.device_library_identifier,
                        token=device.push_token,
                        topic=settings.pass_type_identifier,
                    )
                )
        return found

    async def apply(self, change: WalletChange) -> bool:
        """Builds the customer's passes and pushes the devices behind; whether all went."""
        async with self.database.transaction() as store:
            targets = await self.targets(store, change)
        if self.push is None:
            return True  # APNs not configured: devices learn at their next poll
        done = True
        for target in targets:
            result = await self.push.push(target.token, target.topic)
            async with self.database.transaction() as store:
                if result is PushResult.sent:
                    await store.wallet_device_pushed(
                        target.device, target.serial_number, target.tag
                    )
                elif result is PushResult.gone:
                    await store.unregister_wallet_device(target.device, target.serial_number)
                else:
                    done = False
        return done

    async def settle(self, change: WalletChange, done: bool) -> None:
        async with self.database.transaction() as store:
            if done or change.attempts >= attempts_max:
                if not done:
                    log.warning("wallet_change_dropped", change_id=change.id)
                await store.finish_wallet_change(change.id)
            else:
                backoff = min(backoff_cap_seconds, backoff_base_seconds * 2**change.attempts)
                await store.retry_wallet_change(change.id, backoff)
