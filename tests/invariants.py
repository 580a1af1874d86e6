"""The ledger invariants as the tests check them: reconcile finds no difference, nor does the
live check walking every account, and the rules reconcile does not cover (I3 uniqueness, I8
append-only) hold too."""

from processing.core.live_check import Difference
from processing.runtime import Runtime
from processing.service.ledger.live_check import LiveCheck
from processing.service.ledger.reconcile import reconcile
from processing.service.ports import Database


async def live_check_walk(database: Database) -> list[Difference]:
    """The differences of one whole walk of the live check, from where its walk stands: what
    reconcile finds over the whole ledger, found account by account (decision 0028)."""
    check = LiveCheck(database, 200, 0)
    report = await check.check_pass()
    found = list(report.differences)
    while not report.ended_walk:
        report = await check.check_pass()
        found.extend(report.differences)
    return found


async def assert_ledger_clean(runtime: Runtime) -> None:
    report = await reconcile(runtime.database)
    assert report.differences == []
    assert await live_check_walk(runtime.database) == []
    async with runtime.pool.acquire() as connection:
        negative = await connection.fetchval(
            "select count(*) from accounts where kind = 'customer' and (posted < 0 or reserved < 0)"
        )
        over_committed = await connection.fetchval(
            "select count(*) from holds where committed_points > points"
        )
        double_resolved = await connection.fetchval(
            "select count(*) from (select hold_id from operations where type in "
            "('commit', 'purchase', 'cancel', 'expire') and hold_id is not null "
            "group by hold_id having count(*) > 1) twice"
        )
        # Gift certificates' money ledger (decision 0033): each program's money entries sum to
        # zero, and no certificate holds more than its nominal or anything once expired.
        money_unbalanced = await connection.fetchval(
            "select count(*) from (select program_id from money_entries group by program_id "
            "having sum(amount_minor) <> 0) programs"
        )
        certificates_off = await connection.fetchval(
            "select count(*) from certificates where balance_minor > nominal_minor "
            "or (status <> 'active' and balance_minor <> 0)"
        )
        # Charities (decision 0034): a charity's account is credited by donations only, and
        # every donation credits exactly one charity what the customer gave.
        charity_off = await connection.fetchval(
            "select count(*) from entries e join accounts a on a.id = e.account_id "
            "join operations o on o.id = e.operation_id where a.kind = 'charity' "
            "and (o.type <> 'donation' or e.points <= 0)"
        )
        donation_off = await connection.fetchval(
            "select count(*) from operations o where o.type = 'donation' and (o.points >= 0 "
            "or (select coalesce(sum(e.points), 0) from entries e join charities c "
            "on c.id = e.account_id where e.operation_id = o.id) <> -o.points)"
        )
        # Paid membership (decision 0035): a membership was paid once per period of its chain
        # (its purchase and renewals), a cancelled one has its one refund, never more than
        # the money paid, and no customer has two in force.
        memberships_off = await connection.fetchval(
            "select count(*) from memberships m where m.periods <> (select count(*) from "
            "membership_payments y where y.membership_id = m.id and y.type <> 'refund') "
            "or (m.status = 'cancelled') <> exists (select from membership_payments y "
            "where y.membership_id = m.id and y.type = 'refund') "
            "or coalesce(m.refund_minor, 0) > (select coalesce(sum(y.amount_minor), 0) "
            "from membership_payments y where y.membership_id = m.id and y.type <> 'refund')"
        )
        two_in_force = await connection.fetchval(
            "select count(*) from (select customer_id from memberships "
            "where status in ('active', 'grace') group by customer_id having count(*) > 1) c"
        )
        # Promoters (decision 0034): each reward is an accrual of its points on the promoter's
        # customer account for a purchase of the customer it brought, and a claw-back is a
        # refund of that reward.
        rewards_off = await connection.fetchval(
            "select count(*) from promoter_rewards r join promoters p on p.id = r.promoter_id "
            "join operations o on o.id = r.reward_operation_id "
            "join operations b on b.id = r.purchase_operation_id "
            "join customers c on c.id = r.customer_id "
            "left join operations x on x.id = r.clawback_operation_id "
            "where o.account_id <> p.customer_id or o.type <> 'accrual' or o.points <> r.points "
            "or b.account_id <> r.customer_id or c.promoter_id <> r.promoter_id "
            "or (x.id is not null and (x.type <> 'refund' or x.refund_of <> o.id))"
        )
    assert (negative, over_committed, double_resolved) == (0, 0, 0)
    assert rewards_off == 0
    assert (charity_off, donation_off) == (0, 0)
    assert (money_unbalanced, certificates_off) == (0, 0)
    assert (memberships_off, two_in_force) == (0, 0)
