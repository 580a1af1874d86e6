"""What an operation tells the outside world: the outbox events it writes in its own
transaction (I7), named by what happened rather than by how the ledger did it, so a CRM can
subscribe to ``points.redeemed`` without knowing that a purchase paid with points is one
operation.
"""

from enum import StrEnum

from processing.core.model import OperationType


class EventType(StrEnum):
    purchase_recorded = "purchase.recorded"  # every purchase, paid with points or not
    points_accrued = "points.accrued"  # points landed on the customer's lots (earned or given)
    points_redeemed = "points.redeemed"  # points paid for something
    points_refunded = "points.refunded"  # a refund or a return gave back or clawed back points
    points_expired = "points.expired"
    points_adjusted = "points.adjusted"  # an operator's correction
    hold_reserved = "hold.reserved"
    hold_cancelled = "hold.cancelled"
    hold_expired = "hold.expired"  # released at the end of its TTL
    tier_changed = "tier.changed"  # also written for a manual tier, with no operation
    balance_changed = "balance.changed"  # available, reserved or debt moved
    customer_merged = "customer.merged"  # another customer's points and cards moved to this one
    donation_made = "donation.made"  # points given to a charity (decision 0034)
    # Paid membership (decision 0035): no points operation; the payload names the customer.
    membership_started = "membership.started"
    membership_renewed = "membership.renewed"
    membership_lapsing = "membership.lapsing"  # the period ended: the grace period began
    membership_lapsed = "membership.lapsed"  # the grace period ended
    membership_cancelled = "membership.cancelled"
    promoter_rewarded = "promoter.rewarded"  # a promoter's reward landed on its account


# The operations that tell one event whatever their points.
_told_by_type: dict[OperationType, tuple[EventType, ...]] = {
    OperationType.accrual: (EventType.points_accrued,),
    OperationType.commit: (EventType.points_redeemed,),
    OperationType.refund: (EventType.points_refunded,),
    OperationType.adjustment: (EventType.points_adjusted,),
    OperationType.reserve: (EventType.hold_reserved,),
    OperationType.cancel: (EventType.hold_cancelled,),
    OperationType.merge: (EventType.customer_merged,),
    OperationType.donation: (EventType.donation_made,),
}


def operation_events(
    type_: OperationType,
    points: int,
    redeemed_points: int = 0,
    returned_points: int = 0,
    debt_delta: int = 0,
    releases_hold: bool = False,
) -> tuple[EventType, ...]:
    """The events of one operation, ``balance.changed`` last; ``points`` is its net change of
    the balance, ``releases_hold`` says an ``expire`` operation released a hold (rather than
    burned lots)."""
    if type_ is OperationType.opening:
        # A balance carried over by bonus import: a million customers arriving must not send a
        # million webhooks (decision 0020).
        return ()
    told = _told_by_type.get(type_, ())
    match type_:
        case OperationType.purchase:
            earned = points + redeemed_points
            told = (
                (EventType.purchase_recorded,)
                + ((EventType.points_accrued,) if earned > 0 else ())
                + ((EventType.points_redeemed,) if redeemed_points > 0 else ())
            )
        case OperationType.expire:
            told = (EventType.hold_expired,) if releases_hold else (EventType.points_expired,)
    moved = (
        points != 0
        or redeemed_points != 0
        or returned_points != 0
        or debt_delta != 0
        or type_ in (OperationType.reserve, OperationType.cancel)
        or releases_hold
    )
    return told + ((EventType.balance_changed,) if moved else ())
