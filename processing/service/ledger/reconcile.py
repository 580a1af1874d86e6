"""Reconcile: recompute every balance from the entries and report each difference (I1, I2, I5,
I6, I7), compare the report rollups with the ledger, and check that purchases and customers'
tier spend lie within the money bounds. Run by
``bonus reconcile``, which exits non-zero on any difference, and by the tests after every
concurrent scenario."""

from processing.core import limits
from processing.service.ports import Database
from processing.service.records import ReconcileReport

_checks = {
    "reconcile_posted": "account {id}: posted {posted}, entries {entries}, lots {lots}",
    "reconcile_reserved": (
        "account {id}: reserved {reserved}, held in lots {held}, active holds {active_holds}"
    ),
    "reconcile_debt": "account {id}: debt {debt}, recorded by operations {recorded}",
    "reconcile_lot_holds": "lot {id}: held {held}, allocated to active holds {allocated}",
    "reconcile_lot_entries": "lot {id}: remaining {remaining}, entries {entries}",
    "reconcile_unbalanced_operations": "operation {operation_id}: entries sum to {total}",
    "reconcile_refunds": (
        "operation {id}: refunded_points {refunded_points}, refunds {refunds}; "
        "returned_points {returned_points}, returns {returns}"
    ),
    "reconcile_outbox": "operation {id}: no outbox event",
    "reconcile_tier_spend": "account {id}: tier spend {spend} outside 0 to 2^63-1",
    "reconcile_report_points": (
        "report rollup {program_id} {day} store '{store_id}' {channel} {type}: operations "
        "{operations}, credited {credited}, debited {debited}; the ledger: "
        "{ledger_operations}, {ledger_credited}, {ledger_debited}"
    ),
    "reconcile_report_liability": (
        "report liability {program_id} {day} earned at '{lot_store_id}' activating "
        "{lot_activates_on}: {points}; the ledger: {ledger_points}"
    ),
    "reconcile_report_purchases": (
        "report purchases {program_id} {day} store '{store_id}' {channel}: purchases "
        "{purchases}, amount {amount_minor}, money {money_minor}, returns {returns}, returned "
        "{returned_money_minor}, discount {program_discount_minor}; the ledger: "
        "{ledger_purchases}, {ledger_amount_minor}, {ledger_money_minor}, {ledger_returns}, "
        "{ledger_returned_money_minor}, {ledger_program_discount_minor}"
    ),
    # Gift certificates' money ledger (decision 0033): each certificate's balance is its
    # entries and its last operation's balance after; every money operation sums to zero;
    # each redemption's refunded_minor is its refunds.
    "reconcile_certificate_balances": (
        "certificate {id}: balance {balance_minor}, entries {entries}"
    ),
    "reconcile_certificate_history": (
        "certificate {id}: balance {balance_minor}, its last operation left {balance_after}"
    ),
    "reconcile_money_operations": (
        "certificate operation {id}: entries sum to {total} ({entries} entries)"
    ),
    "reconcile_certificate_refunds": (
        "certificate operation {id}: refunded_minor {refunded_minor}, refunds {refunds}"
    ),
    # Paid membership (decision 0035): paid once per period, one refund when cancelled, never
    # more back than paid.
    "reconcile_membership_payments": (
        "membership {id}: {periods} periods, {paid} paid, {refunds} refunds, refund "
        "{refund_minor} of {paid_minor}"
    ),
    "reconcile_report_customer_sets": (
        "report customers {program_id} {grain} {period} chunk {chunk}: active {active}, "
        "purchasing {purchased}, twice {repeated}; the ledger: {ledger_active}, "
        "{ledger_purchased}, {ledger_repeated}"
    ),
}


async def reconcile(database: Database) -> ReconcileReport:
    differences: list[str] = []
    async with database.snapshot() as store:
        await store.fetch_named("allow_ledger_pass", f"{limits.ledger_pass_statement_seconds_max}s")
        for query, message in _checks.items():
            rows = await store.fetch_named(query)
            differences.extend(message.format(**dict(row)) for row in rows)
        purchases = await store.fetch_named("reconcile_purchases", limits.receipt_total_minor_max)
        differences.extend(
            f"purchase {row['id']}: amount {row['amount_minor']}, money {row['money_minor']}, "
            f"returned {row['returned']} (amount at most {limits.receipt_total_minor_max}, "
            "money at most the amount, returns at most the money)"
            for row in purchases
        )
        checked = await store.fetch_named("count_customer_accounts")
    return ReconcileReport(accounts_checked=checked[0]["count"], differences=differences)
