"""Every limit of the processing center, named with its unit last.

Relations between limits are checked at import, so a bad edit fails the first test that loads
this module instead of a customer's purchase.
"""

from processing.core.invariants import invariant

# Points in one operation. Well inside a Postgres bigint even after millions of operations.
points_per_operation_max = 1_000_000_000
# A balance may never grow past this, so sums over an account cannot overflow a bigint.
points_per_account_max = 1_000_000_000_000

hold_ttl_seconds_min = 10
hold_ttl_seconds_default = 900
hold_ttl_seconds_max_default = 24 * 3600
hold_ttl_seconds_max_ceiling = 7 * 24 * 3600

expiry_days_max = 3650

# The largest step a program's discount may round each line down to (decision 0036): 100 is a
# whole ruble; 1 000 000 minor units is far past any currency's whole unit.
discount_whole_unit_minor_max = 1_000_000

# Points a till's or a web shop's key may create (manual accruals, refunds that give points
# back), by default: a program sets its own, up to the ceilings.
key_points_per_call_max_default = 100_000
key_points_per_day_max_default = 1_000_000
key_points_per_call_max_ceiling = 1_000_000_000
key_points_per_day_max_ceiling = 1_000_000_000_000
activation_delay_seconds_max = 366 * 24 * 3600

page_size_default = 20
page_size_max = 100
expiring_groups_max = 12

request_body_bytes_max = 64 * 1024
# Nesting of a JSON body: ours are a few levels deep, partners' a few more. Deeper JSON is
# refused before it is decoded, so no decoder or database recursion limit is ever reached.
request_json_depth_max = 32
partner_json_depth_max = 64
# Timestamps a client may send (expiry, activation, a fiscal receipt's print time), by year.
timestamp_year_min = 1970
timestamp_year_max = 2199
idempotency_key_length_max = 255
idempotency_retention_seconds = 7 * 24 * 3600
document_id_length_max = 128
name_length_max = 200
comment_length_max = 1000
reason_length_max = 500
card_number_length_max = 64
attributes_count_max = 50
# Lines of one receipt (the wire schema's Receipt says the same to API callers).
receipt_lines_max = 500
# Money on a receipt, in minor units: a unit price or discount, a line's quantity, a line's
# total (quantity × unit price) and the receipt's total. Without the two totals, 500 lines ×
# 100,000 × 1e11 made one receipt worth 5e18 and two of them overflowed a customer's bigint
# tier spend, after which every priced call for that customer failed.
money_minor_max = 100_000_000_000
receipt_line_quantity_max = 100_000
line_total_minor_max = 1_000_000_000_000
receipt_total_minor_max = 1_000_000_000_000

# Active webhook subscriptions one program may have: each is an outbound request per event.
webhook_subscriptions_per_program_max = 20

# An API key's optional expiry lies at most this far ahead.
api_key_days_max = 732
# After a rotation the old secret keeps working this long (default), at most a day.
api_key_rotation_grace_seconds_default = 3600
api_key_rotation_grace_seconds_max = 24 * 3600
# A key revoked through another instance stops working within this many seconds.
api_key_cache_seconds = 2.0
api_key_cache_size_max = 10_000
# A secret found unknown is not looked up again for this long (per process, bounded).
unknown_key_cache_seconds = 1.0
unknown_key_cache_size_max = 10_000
# Failed authentications per client address: a bucket of this many, refilled one per so many
# seconds; an empty bucket is answered 429 before any lookup. Addresses kept per process.
auth_failures_burst = 20
auth_failure_refill_seconds = 3.0
auth_failure_addresses_max = 100_000
# An operator console session (api/console/) lives this long after sign-in: a working shift.
console_session_seconds = 8 * 3600
# A Bitrix24 install link works once, within this many seconds of being made (a week: time for
# a portal's administrator to get to it).
bitrix24_install_link_seconds = 7 * 24 * 3600
# The console's statement shows this many operations a page.
console_statement_page_size = 20
# A customer's active holds a read lists, newest first, in holds (one per open cheque or order).
active_holds_max = 50
# The console's lists (programs, keys, connections, inbox events, deliveries): rows a page.
console_list_page_size = 25

lock_ttl_ms = 5_000
lock_wait_ms_max = 2_000
lock_retry_ms_max = 20
redis_timeout_ms = 250
redis_retry_after_failure_ms = 1_000

expiry_batch_size = 500

# SMS confirmation codes at the till: digits of a code, how long it lives, how many a customer
# may be sent per window, and how many wrong tries spend a check.
sms_code_digits = 6
sms_code_seconds_ttl = 300
sms_sends_per_customer_max = 3
sms_sends_window_seconds = 600
sms_confirm_attempts_max = 5
# One SMS carries 160 characters of the GSM 7-bit alphabet or 70 of anything else (UCS-2, as
# Cyrillic needs); a longer text goes in parts of 153 or 67, each billed as a message. A
# program's template may take at most sms_parts_max parts once rendered.
sms_gsm7_characters_single = 160
sms_gsm7_characters_part = 153
sms_ucs2_characters_single = 70
sms_ucs2_characters_part = 67
sms_parts_max = 3
# Characters of a stored message template (the wire schema's MessageText says the same).
message_template_characters_max = 1000
# Trigger messages (decision 0023): characters of a trigger's template body and e-mail subject,
# templates per trigger (channels x locales), and events the message step takes per batch.
trigger_template_characters_max = 5000
trigger_subject_characters_max = 200
trigger_templates_max = 8
message_events_batch_max = 100
# SMTP (decision 0023): e-mails go over at most ``smtp_connections_max`` connections kept open
# and reused (STARTTLS and the login once per connection, not per e-mail), each for at most
# ``smtp_messages_per_connection_max`` messages (servers cap a session) and reused only while
# idle for less than ``smtp_idle_seconds_max`` seconds (well under the five minutes RFC 5321
# lets a server wait before it drops an idle client).
smtp_connections_max = 4
smtp_messages_per_connection_max = 100
smtp_idle_seconds_max = 30.0
# Messages sent, failed or suppressed, and the events turned into them, are kept this long after
# they were made (processed), then purged by the worker in batches of message_purge_batch_rows,
# at most message_purge_batches_max batches a pass (the rest next pass). A queued message is
# never purged, nor an event a scan could find again (decision 0023).
message_retention_seconds = 90 * 24 * 3600
message_purge_batch_rows = 1000
message_purge_batches_max = 100
# The daily cap counts a customer's marketing messages since local midnight, up to 38 hours back
# (UTC+14); the welcome scan looks back one day.
message_cap_lookback_seconds_max = 38 * 3600

invariant(points_per_operation_max < points_per_account_max, "one operation fits an account")
invariant(points_per_account_max < 2**62, "account sums fit a Postgres bigint")
invariant(
    hold_ttl_seconds_min <= hold_ttl_seconds_default <= hold_ttl_seconds_max_ceiling,
    "the default hold TTL lies between its bounds",
)
invariant(
    hold_ttl_seconds_default <= hold_ttl_seconds_max_default <= hold_ttl_seconds_max_ceiling,
    "a new program's maximum hold TTL lies between the default and the ceiling",
)
invariant(
    0 < request_json_depth_max <= partner_json_depth_max < 1000,
    "bodies are refused well before msgspec's or the json module's recursion limit",
)
invariant(timestamp_year_min < timestamp_year_max < 10_000, "client timestamps fit ISO 8601")
invariant(
    0 < key_points_per_call_max_default <= key_points_per_day_max_default,
    "a key may make at least one call of the most points it may create a day",
)
invariant(
    key_points_per_call_max_ceiling <= points_per_operation_max
    and key_points_per_day_max_ceiling <= points_per_account_max,
    "the ceilings of a key's points lie within what an operation and an account may hold",
)
invariant(money_minor_max <= line_total_minor_max <= receipt_total_minor_max, "totals ≥ parts")
invariant(
    receipt_total_minor_max * receipt_lines_max < 2**63,
    "amounts and returns of one purchase fit a Postgres bigint with room to spare",
)
invariant(0 < page_size_default <= page_size_max, "the default page fits the maximum page")
invariant(0 < console_statement_page_size <= page_size_max, "a console page fits a page")
invariant(0 < active_holds_max <= page_size_max, "a customer's holds fit a page")
invariant(0 < console_list_page_size <= page_size_max, "a console list fits a page")
invariant(
    unknown_key_cache_seconds <= api_key_cache_seconds,
    "an unknown key is remembered no longer than a live one, so a new key works as soon",
)
invariant(auth_failures_burst >= 1 and auth_failure_refill_seconds > 0, "a bucket refills")
invariant(lock_wait_ms_max < lock_ttl_ms, "a waiter gives up before a stuck lock expires")
invariant(lock_retry_ms_max < lock_wait_ms_max, "a waiter retries several times before giving up")
invariant(redis_timeout_ms < lock_wait_ms_max, "one Redis call fits in the lock wait")
invariant(sms_code_seconds_ttl <= sms_sends_window_seconds, "a code dies within its send window")
invariant(sms_confirm_attempts_max < 10**sms_code_digits, "attempts cannot exhaust the codes")

# Self-enrollment pages (decision 0031): a code sent to a phone that may not be a customer yet
# lives a little longer than the till's (the person types it on their own phone); codes to one
# phone are counted across every program's page, per hour and per day; codes asked and forms
# posted from one client address, per minute and per hour; tries per code. A signed-in
# customer's session, and how long a card link sent by SMS or e-mail opens the card.
enrollment_code_seconds_ttl = 600
enrollment_codes_per_phone_hour_max = 3
enrollment_codes_per_phone_day_max = 6
enrollment_codes_per_address_minute_max = 3
enrollment_codes_per_address_hour_max = 20
enrollment_posts_per_address_minute_max = 20
enrollment_posts_per_address_hour_max = 200
enrollment_code_attempts_max = 5
enrollment_session_seconds = 1800
enrollment_statement_items_max = 20
card_link_seconds = 30 * 86400
invariant(
    enrollment_codes_per_phone_hour_max <= enrollment_codes_per_phone_day_max,
    "a phone's hourly codes fit in its daily ones",
)
invariant(
    enrollment_codes_per_address_minute_max <= enrollment_codes_per_address_hour_max
    and enrollment_posts_per_address_minute_max <= enrollment_posts_per_address_hour_max,
    "an address's minute fits in its hour",
)
invariant(
    enrollment_codes_per_address_minute_max <= enrollment_posts_per_address_minute_max,
    "asking for a code is a post too: its limit is the narrower",
)
invariant(enrollment_code_attempts_max < 10**sms_code_digits, "tries cannot exhaust the codes")
invariant(enrollment_statement_items_max <= page_size_max, "a customer's statement fits a page")

# A partner's rate limit is shared with the retailer's other integrations (a Bitrix24 portal's
# 2 requests a second serve every app on it; a RetailCRM key's 10 serve every caller of it):
# a connection takes this share of it (its ``rate_share_percent`` setting), never all of it.
partner_rate_share_percent_default = 50
partner_rate_share_percent_max = 80
invariant(
    0 < partner_rate_share_percent_default <= partner_rate_share_percent_max < 100,
    "a connection takes a part of a partner's rate, never all of it",
)
invariant(
    sms_ucs2_characters_part < sms_ucs2_characters_single
    and sms_gsm7_characters_part < sms_gsm7_characters_single,
    "a part of a long SMS carries less than a whole one",
)
invariant(
    sms_parts_max * sms_gsm7_characters_part <= message_template_characters_max,
    "the template bound never refuses a text that would fit the SMS parts",
)

# ``bonus export`` reads the program through a server-side cursor this many rows (one a lot) at
# a time: memory stays bounded whatever the program's size, and each fetch is one short
# statement well inside the pool's statement timeout.
export_batch_rows_default = 1000
export_batch_rows_max = 100_000
invariant(0 < export_batch_rows_default <= export_batch_rows_max, "a batch holds some rows")

# bonus import: customers written per transaction (a batch is also what a resumed run skips or
# redoes), how long an operator's import id may be (it prefixes each opening operation's
# document), and how many invalid rows are listed on stderr without --report.
import_batch_customers_default = 5000
import_batch_customers_max = 100_000
import_id_length_max = 64
import_errors_shown_max = 20
invariant(
    0 < import_batch_customers_default <= import_batch_customers_max, "a batch holds customers"
)

# Segments (processing/core/segments.py): a filter is a tree of all/any groups nested at most
# this deep, holding at most this many predicates, so that its one compiled statement stays
# small enough for the planner to plan at once. Windows of days reach back at most ten years.
segment_depth_max = 4
segment_predicates_max = 32
segment_window_days_max = 3650
segment_purchase_count_max = 1_000_000
segment_money_minor_max = receipt_total_minor_max
segment_name_length_max = 200
segment_list_items_max = 50
# A member's expiring points are shown for the widest expiring_points window of the filter, or
# for this many days when it has none.
segment_expiring_days_default = 30
# The estimate of a large program's count samples about this many of its customers.
segment_sample_customers = 20_000
# A segment's export sorts its members before the first row; its statements may run this long.
segment_export_statement_seconds_max = 300
# An exact count of a large program's segment is reused for this long before it is taken again.
segment_count_fresh_seconds = 300
invariant(segment_predicates_max <= request_json_depth_max * 4, "a filter fits a request body")
invariant(segment_depth_max * 2 + 2 <= request_json_depth_max, "a filter's nesting fits a body")
invariant(0 < segment_expiring_days_default <= segment_window_days_max, "the default is a window")

# Campaigns (decision 0024): the worker reads and records a running campaign's members a batch
# at a time, accrues at most ``campaign_accruals_at_once_default`` of them at once (each member is
# an account of its own; more at once only queues in Postgres, ahead of the tills' statements),
# at most ``campaign_members_per_second_default`` members a second (the named throttle, a
# setting) so the tills keep their share of the database; ``campaign_due_max`` campaigns a pass.
campaign_members_per_second_default = 1000.0
campaign_batch_members_default = 100
campaign_accruals_at_once_default = 8
campaign_due_max = 10
campaign_member_attempts_max = 3
campaign_expiry_days_max = 3650
invariant(
    message_retention_seconds > message_cap_lookback_seconds_max,
    "no message the daily cap counts (made since the customer's local midnight) is purged",
)
invariant(0 < message_purge_batch_rows <= 10_000, "a purge batch is one short statement")
invariant(message_purge_batches_max >= 1, "a purge pass deletes at least one batch")

# Coalition settlement (decision 0026): a statement closes at most this many of the program's
# local days (a quarter), and holds at most this many lines (one per operation and earning
# store across merchants); a longer period or a busier one is closed in shorter periods.
settlement_period_days_max = 92
settlement_lines_max = 100_000
merchant_name_length_max = 200
merchant_legal_name_length_max = 300
invariant(settlement_period_days_max >= 31, "a month can be closed in one statement")

# The live consistency check (decision 0028): the worker checks this many customer accounts a
# pass by default and pauses this long between passes (both settings), at most this many a
# pass, so that one pass's statement stays far inside the pool's 15 s statement_timeout.
live_check_accounts_per_pass_default = 200
live_check_accounts_per_pass_max = 5_000
live_check_pause_seconds_default = 1.0
# The report rollups' walk looks at most this many programs with nothing to check in one claim
# (a program without operations costs two index probes), then goes on at the next pass.
live_check_programs_per_claim_max = 100
# A program day's rollups are checked in one statement over that day's operations, up to about
# 0.1 ms an operation when its pages are not cached (loadtests/RESULTS.md); a busier day would
# near the 15 s statement_timeout and is left to `bonus reconcile` (a log line says so).
live_check_report_day_operations_max = 50_000
invariant(
    0 < live_check_accounts_per_pass_default <= live_check_accounts_per_pass_max,
    "a pass checks at least one account and at most the maximum",
)

# Reports (decision 0025): the longest window one report covers, in days (three years; a
# year's report reads a few thousand rows of rollups).
report_days_max = 1096
# A pass over the whole ledger (`bonus reconcile`, `bonus reports rebuild`) runs far past the
# pool's 15 s statement timeout at ten million operations (measured: 6 and 7 minutes); each of
# its statements may take up to this long instead.
ledger_pass_statement_seconds_max = 3600

# Apple Wallet passes (decision 0029): an uploaded logo or icon PNG is at most this many bytes
# (base64 in a JSON body under request_body_bytes_max); a certificate, key or intermediate PEM
# at most this many characters; the terms on a pass's back this many characters; the back shows
# this many of the card's last operations. A pass's authentication token has this many
# characters (Apple asks for at least 16); a device library identifier and a push token at
# most these many. A poll for updated passes reads at most this many passes of one device.
pass_image_bytes_max = 40 * 1024
pass_pem_characters_max = 8 * 1024
pass_terms_length_max = 4000
pass_type_identifier_length_max = 128
pass_operations_shown = 5
pass_authentication_token_characters = 32
pass_device_identifier_length_max = 128
pass_push_token_length_max = 256
pass_log_lines_max = 16
pass_log_line_length_max = 500
pass_device_passes_max = 100
invariant(pass_authentication_token_characters >= 16, "Apple asks for at least 16 characters")
invariant(
    pass_log_lines_max * pass_log_line_length_max * 6 < request_body_bytes_max,
    "a device's log fits one body even with every character escaped (\\u0000)",
)
invariant(pass_image_bytes_max * 4 // 3 + 1024 < request_body_bytes_max, "an image fits one body")

# The program gauges (decision 0027): how often the worker reads them from the rollups, in
# seconds, and the days a customer counts as active after an operation of their own.
program_gauges_seconds = 60.0
active_customers_days = 30

# Google Wallet (decision 0030): a class's program name (Google shows it on the card), the
# origins a "Save to Google Wallet" button may be rendered on, a service account's key (a
# 4096-bit RSA key in PEM is about 3,300 characters), the object's account name (Google
# recommends at most 20 characters), and how long an access token is used before it expires.
google_wallet_program_name_characters_max = 100
google_wallet_origins_max = 10
google_wallet_private_key_characters_max = 10_000
google_wallet_account_name_characters_max = 20
google_wallet_token_margin_seconds = 60
google_wallet_save_jwt_characters_max = 1800
google_wallet_update_batch_objects = 50
google_wallet_backoff_base_seconds = 10.0
google_wallet_backoff_cap_seconds = 3600.0
google_wallet_lease_seconds = 60.0
invariant(
    google_wallet_backoff_base_seconds <= google_wallet_backoff_cap_seconds,
    "the first retry waits no longer than the longest",
)

# Promo codes (decision 0032). Codes one receipt may carry (calculate, purchase, commit): more
# is refused naming the field, not cut.
promo_codes_per_receipt_max = 5
# A code as typed (separators included) and as stored (upper-case letters and digits).
promo_code_typed_length_max = 64
promo_code_length_min = 3
promo_code_length_max = 32
# Unique codes made in one batch request, and the random characters of each (a check character
# follows): 31 ** 11 is about 2.5e16, so guessing one of a million codes takes ~2.5e10 tries.
promo_batch_codes_max = 1000
# Codes one campaign may have, so that its CSV export is one bounded read.
promo_codes_per_campaign_max = 100_000
promo_code_random_characters = 11
# What a campaign's effect may be: fixed points, a multiplier of the lines' earning (basis
# points of it: 20_000 doubles it), extra basis points of the money, a discount's basis points.
promo_bonus_points_max = 1_000_000
promo_multiplier_bp_max = 100_000
promo_campaign_skus_max = 1000
promo_uses_max = 1_000_000_000

invariant(
    promo_code_random_characters + 1 <= promo_code_length_max,
    "a generated code fits a stored one",
)
# Gift certificates (decision 0033): money in the program's currency, minor units. One
# certificate's nominal value; certificates one issue call makes; how far ahead one may expire;
# wrong PINs in a row that block it until an operator unblocks it; certificates one receipt may
# be paid with.
certificate_nominal_minor_max = 100_000_000_000
certificate_batch_max = 1000
certificate_validity_days_max = 5 * 366
certificate_wrong_pins_max = 5
certificates_per_receipt_max = 5
# Digits of a certificate's PIN (its number is 15 random digits and a Luhn check digit).
certificate_pin_digits = 8

# Paid membership (decision 0035): a level's price in the program's currency, minor units; its
# grace period after a period ends, in days; levels one program may define; memberships one
# sweep closes in one statement.
membership_price_minor_max = 100_000_000_000
membership_grace_days_max = 90
membership_levels_per_program_max = 50
membership_sweep_batch_max = 1000
