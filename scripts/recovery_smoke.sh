#!/usr/bin/env bash
# End-to-end recovery (dunning) check of a running Duro server, with nothing but curl and test keys (and python3 to
# read JSON).
#
#   duro tenant create --name "Acme" --owner-email owner@acme.example --json > acme.json
#   scripts/recovery_smoke.sh acme.json http://127.0.0.1:8000
#
# $1  output of `duro tenant create --json` (01 §11) for the tenant under test (recovery settings at their defaults)
# $2  base URL of the server (default http://127.0.0.1:8000)
#
# In test mode (04), on ONE test clock frozen at 2025-03-13 10:00 UTC: checks the recovery settings and their 422s;
# subscribes four customers to a monthly plan with a 7-day trial, each paying with a simulator number that takes a
# different dunning path when the renewal of 2025-03-20 10:00 fails:
#   A  payday card          insufficient_funds -> retry_payday on 2025-03-28 09:00 -> recovered
#   B  do_not_honor card    one retry on the card, then switch_rail to the customer's ussd account -> recovered
#   C  expired card         awaiting_customer; the merchant pays the invoice with a new card -> recovered
#   D  processor_error card back-off retries at +0/24/72/120/168 h -> exhausted: invoice uncollectible, sub unpaid
# and checks the schedules and their decisions, the subscriptions, invoices, events and customer messages, then the
# clock-scoped failure analytics and overview. Every write carries an Idempotency-Key. Exits non-zero with a message
# on the first failed check; prints "recovery-smoke: all checks passed" at the end.
set -euo pipefail

usage() {
    echo "usage: $0 TENANT_JSON [BASE_URL]" >&2
    exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
TENANT_JSON=$1
BASE_URL=${2:-http://127.0.0.1:8000}
BASE_URL=${BASE_URL%/}

SMOKE_NAME=recovery-smoke
# shellcheck source=scripts/smoke_lib.sh
source "$(dirname "$0")/smoke_lib.sh"
RUN="rsmoke-$(date +%s)-$$"

# write METHOD PATH BODY: a test-mode write with a fresh Idempotency-Key.
KEY_SEQ=0
write() {
    KEY_SEQ=$((KEY_SEQ + 1))
    request "$1" "$2" "$TEST_SK" "$3" "Idempotency-Key: $RUN-$KEY_SEQ"
}

# get PATH: a test-mode read.
get() {
    request GET "$1" "$TEST_SK"
}

# expect EXPR WANT WHAT: a field of the last response body.
expect() {
    local expr=$1 want=$2 what=$3 got
    got=$(json "$WORK/body" "$expr") || fail "$what: the response has no field $expr"
    [[ $got == "$want" ]] || fail "$what: $expr is '$got', expected '$want'"
}

# expect_error STATUS REASON WHAT: an error envelope (01 §5).
expect_error() {
    expect_status "$1" "$3"
    expect '["error"]["reason"]' "$2" "$3"
}

# expect_rows WANT WHAT LIST FIELD...: the rows (see smoke_lib's rows) of the last response, sorted, one per line.
expect_rows() {
    local want=$1 what=$2 got
    shift 2
    got=$(rows "$WORK/body" "$@" | LC_ALL=C sort) || fail "$what: the response has no list $1 with fields ${*:2}"
    [[ $got == "$want" ]] ||
        fail "$what: got [$(echo "$got" | paste -sd '|')], expected [$(echo "$want" | paste -sd '|')]"
}

# has_row WANT WHAT LIST FIELD...: one of the rows (see smoke_lib's rows) of the last response is exactly WANT.
has_row() {
    local want=$1 what=$2 got
    shift 2
    got=$(rows "$WORK/body" "$@") || fail "$what: the response has no list $1 with fields ${*:2}"
    [[ $'\n'$got$'\n' == *$'\n'"$want"$'\n'* ]] || fail "$what"
}

# lines ITEM...: the ITEMs one per line, sorted (to compare with expect_rows).
lines() {
    printf '%s\n' "$@" | LC_ALL=C sort
}

# advance TO: move the clock, which runs the renewals, dunning retries and escalations due on the way (03 §12, 04 §4).
advance() {
    write POST "/v1/test-clocks/$CLOCK/advance" "{\"to\":\"$1\"}"
    expect_status 200 "advance the clock to $1"
    expect '["frozenTime"]' "$1" "advance the clock to $1"
    expect '["status"]' ready "advance the clock to $1"
}

# schedule LABEL SUB: the subscription's only dunning schedule into $WORK/body; sets SCHED.
schedule() {
    get "/v1/recovery/schedules?subscriptionId=$2"
    expect_status 200 "$1: list the subscription's dunning schedules"
    [[ $(rows "$WORK/body" items id | wc -l) == 1 ]] || fail "$1: expected exactly one dunning schedule for $2"
    SCHED=$(json "$WORK/body" '["items"][0]["id"]')
    [[ $SCHED == dun_* ]] || fail "$1: unexpected schedule id '$SCHED'"
    get "/v1/recovery/schedules/$SCHED"
    expect_status 200 "$1: read schedule $SCHED"
    expect '["object"]' dunning_schedule "$1: read schedule"
    expect '["subscriptionId"]' "$2" "$1: read schedule"
    expect '["amount"]' "$AMOUNT" "$1: schedule amount"
    expect '["currency"]' NGN "$1: schedule currency"
    expect '["startedAt"]' "$RENEWAL" "$1: schedule opened by the failed renewal"
    expect '["escalationAt"]' "$ESCALATION" "$1: escalationAt = startedAt + 14 days"
}

# decisions_are LABEL WANT: the schedule's decisions as "action nextAttemptAt attemptsMade rail" lines, in order.
decisions_are() {
    local got
    got=$(rows "$WORK/body" decisions action nextAttemptAt attemptsMade rail)
    [[ $got == "$2" ]] || fail "$1: decisions [$(echo "$got" | paste -sd '|')], expected [$(echo "$2" | paste -sd '|')]"
}

# sub_is LABEL SUB STATUS: read the subscription into $WORK/body and check its status.
sub_is() {
    get "/v1/subscriptions/$2"
    expect_status 200 "$1: read subscription $2"
    expect '["status"]' "$3" "$1: subscription status"
}

# events_for LABEL TYPE FIELD: the dotted FIELD of the newest 100 events of TYPE (one run writes at most 10 of a
# type, so earlier runs on the same tenant do not push this run's events off the page), one per line, in EVENTS.
events_for() {
    get "/v1/events?type=$2&limit=100"
    expect_status 200 "$1: list $2 events"
    EVENTS=$(rows "$WORK/body" items "$3") || fail "$1: a $2 event has no field $3"
}

# count_of VALUE: how many lines of EVENTS are exactly VALUE.
count_of() {
    { grep -cx -- "$1" <<<"$EVENTS" || true; }
}

[[ -r $TENANT_JSON ]] || fail "cannot read tenant JSON $TENANT_JSON"
TEST_SK=$(json "$TENANT_JSON" '["keys"]["test"]["secret"]') || fail "$TENANT_JSON is not duro tenant create --json output"
TENANT_ID=$(json "$TENANT_JSON" '["tenant"]["id"]')
[[ $TEST_SK == sk_test_* ]] || fail "$TENANT_JSON does not hold an sk_test_ key"

echo "recovery-smoke: $BASE_URL, tenant $TENANT_ID"

request GET /readyz "$TEST_SK"
expect_status 200 "GET /readyz"
pass "server ready"

# --- 1. recovery settings (04 §6): the defaults; a field error and a cross-field error change nothing ---

DEFAULTS='true 5 [0, 24, 72, 120, 168] true 14 mark_unpaid true 3'
settings_line() {
    local f out=()
    for f in dunningEnabled maxAttempts retryOffsetsHours paydayAware dunningEscalationDays dunningEscalation \
        renewalReminders renewalReminderDays; do
        out+=("$(json "$WORK/body" "[\"$f\"]")")
    done
    echo "${out[*]}"
}
get /v1/settings/recovery
expect_status 200 "GET /v1/settings/recovery"
expect '["object"]' recovery_settings "GET /v1/settings/recovery"
[[ $(settings_line) == "$DEFAULTS" ]] ||
    fail "recovery settings are not the defaults (this script needs them): $(settings_line), expected $DEFAULTS"
SETTINGS_UPDATED=$(json "$WORK/body" '["updatedAt"]')

write PATCH /v1/settings/recovery '{"maxAttempts":11}'
expect_status 422 "PATCH maxAttempts 11 (range 1-10)"
expect '["error"]["code"]' validation_error "PATCH maxAttempts 11"
expect '["error"]["reason"]' "" "PATCH maxAttempts 11: a per-field error has no reason"
expect '["error"]["details"][0]["path"]' maxAttempts "PATCH maxAttempts 11"
write PATCH /v1/settings/recovery '{"retryOffsetsHours":[0,24]}'
expect_status 422 "PATCH retryOffsetsHours [0, 24] (fewer offsets than maxAttempts 5)"
expect '["error"]["code"]' validation_error "PATCH retryOffsetsHours [0, 24]"
expect '["error"]["reason"]' settings_inconsistent "PATCH retryOffsetsHours [0, 24]"
write PATCH /v1/settings/recovery '{"retryOffsetsHours":[0,72,24,120,168]}'
expect_status 422 "PATCH retryOffsetsHours not increasing"
expect '["error"]["reason"]' settings_inconsistent "PATCH retryOffsetsHours not increasing"
get /v1/settings/recovery
expect_status 200 "GET /v1/settings/recovery after the refused PATCHes"
[[ $(settings_line) == "$DEFAULTS" ]] || fail "a refused PATCH changed the recovery settings: $(settings_line)"
expect '["updatedAt"]' "$SETTINGS_UPDATED" "a refused PATCH leaves updatedAt"
pass "recovery settings: defaults; 422 validation_error (maxAttempts 11), 422 settings_inconsistent; unchanged"

# --- 2. one clock, one plan, four customers with simulator methods ---

T0=2025-03-13T10:00:00.000Z
RENEWAL=2025-03-20T10:00:00.000Z
ESCALATION=2025-04-03T10:00:00.000Z
PERIOD_END=2025-04-20T10:00:00.000Z
AMOUNT=500000

write POST /v1/test-clocks "{\"frozenTime\":\"$T0\",\"name\":\"recovery smoke\"}"
expect_status 201 "create a test clock"
expect '["frozenTime"]' "$T0" "create a test clock"
CLOCK=$(json "$WORK/body" '["id"]')
[[ $CLOCK == clock_* ]] || fail "create a test clock: unexpected id '$CLOCK'"

write POST /v1/plans \
    "{\"name\":\"Recovery smoke monthly\",\"amount\":$AMOUNT,\"currency\":\"NGN\",\"interval\":\"month\",\"trialDays\":7}"
expect_status 201 "create the plan"
expect '["trialDays"]' 7 "create the plan"
PLAN=$(json "$WORK/body" '["id"]')
[[ $PLAN == plan_* ]] || fail "create the plan: unexpected id '$PLAN'"
pass "test clock $CLOCK at $T0; plan $PLAN: $AMOUNT NGN a month, 7-day trial"

# new_customer LABEL [EXTRA_JSON_FIELDS]: sets CUS.
new_customer() {
    write POST /v1/customers \
        "{\"email\":\"recovery-${1,,}@smoke.example.com\",\"name\":\"Recovery $1\",\"merchantRef\":\"$RUN-$1\"${2:-}}"
    expect_status 201 "customer $1: create"
    CUS=$(json "$WORK/body" '["id"]')
    [[ $CUS == cus_* ]] || fail "customer $1: unexpected id '$CUS'"
}

# card LABEL CUSTOMER NUMBER: attach a simulator card; sets PM.
card() {
    write POST "/v1/customers/$2/payment-methods" "{\"testCard\":{\"number\":\"$3\",\"expMonth\":12,\"expYear\":2034}}"
    expect_status 201 "$1: attach card $3"
    expect '["rail"]' card "$1: attach card $3"
    expect '["last4"]' "${3: -4}" "$1: attach card $3"
    PM=$(json "$WORK/body" '["id"]')
    [[ $PM == pm_* ]] || fail "$1: attach card: unexpected id '$PM'"
}

new_customer A
CUS_A=$CUS
card "A" "$CUS_A" 4000000000000028
PM_A=$PM
new_customer B
CUS_B=$CUS
card "B" "$CUS_B" 4000000000000005
PM_B=$PM
write POST "/v1/customers/$CUS_B/payment-methods" '{"rail":"ussd","testAccount":"0123456789"}'
expect_status 201 "B: attach a ussd account"
expect '["rail"]' ussd "B: attach a ussd account"
expect '["isDefault"]' false "B: the ussd account is not the default (the card is)"
USSD_B=$(json "$WORK/body" '["id"]')
# C has a phone as well, so its update link is the portal (04 §4); its messages still go by email (07 §9 defaults).
new_customer C ',"phone":"+2348031234567"'
CUS_C=$CUS
card "C" "$CUS_C" 4000000000000054
PM_C=$PM
new_customer D
CUS_D=$CUS
card "D" "$CUS_D" 4000000000000096
PM_D=$PM
pass "customers: A payday card, B do_not_honor card + ussd account, C expired card, D processor_error card"

# subscribe LABEL CUSTOMER: sets SUB.
subscribe() {
    write POST /v1/subscriptions "{\"customerId\":\"$2\",\"planId\":\"$PLAN\",\"testClockId\":\"$CLOCK\"}"
    expect_status 201 "$1: subscribe"
    SUB=$(json "$WORK/body" '["id"]')
    [[ $SUB == sub_* ]] || fail "$1: subscribe: unexpected id '$SUB'"
    expect '["status"]' trialing "$1: subscribe"
    expect '["testClockId"]' "$CLOCK" "$1: subscribe"
    expect '["trialEnd"]' "$RENEWAL" "$1: trial end = now + 7 days"
}
subscribe A "$CUS_A"
SUB_A=$SUB
subscribe B "$CUS_B"
SUB_B=$SUB
subscribe C "$CUS_C"
SUB_C=$SUB
subscribe D "$CUS_D"
SUB_D=$SUB
pass "subscriptions A $SUB_A, B $SUB_B, C $SUB_C, D $SUB_D: trialing until $RENEWAL"

# --- 3a. the renewals of 2025-03-20 10:00 fail: each schedule's first decisions ---

MAR21=2025-03-21T00:00:00.000Z
advance "$MAR21"

schedule A "$SUB_A"
SCHED_A=$SCHED
INV_A=$(json "$WORK/body" '["invoiceId"]')
expect '["state"]' scheduled "A: schedule"
expect '["attemptsMade"]' 0 "A: schedule"
expect '["nextAttemptAt"]' 2025-03-28T09:00:00.000Z "A: next attempt on payday"
expect '["lastFailureCode"]' insufficient_funds "A: schedule"
expect '["lastFailureCategory"]' insufficient_funds "A: schedule"
expect '["paymentMethodId"]' "$PM_A" "A: schedule"
decisions_are A "retry_payday 2025-03-28T09:00:00.000Z 0 card"
sub_is A "$SUB_A" past_due
pass "A: $SCHED_A scheduled, retry_payday at 2025-03-28 09:00 (the 28th is before the 04-03 deadline)"

schedule B "$SUB_B"
SCHED_B=$SCHED
expect '["state"]' scheduled "B: schedule"
expect '["attemptsMade"]' 1 "B: the same-card retry at +0 h was made"
expect '["nextAttemptAt"]' 2025-03-21T10:00:00.000Z "B: next attempt +24 h"
expect '["lastFailureCode"]' do_not_honor "B: schedule"
expect '["paymentMethodId"]' "$USSD_B" "B: the schedule moved to the ussd account"
expect '["rail"]' ussd "B: schedule"
decisions_are B "retry $RENEWAL 0 card
switch_rail 2025-03-21T10:00:00.000Z 1 ussd"
expect '["decisions"][0]["paymentMethodId"]' "$PM_B" "B: first decision retries the same card"
expect '["decisions"][1]["paymentMethodId"]' "$USSD_B" "B: second decision switches to the ussd account"
sub_is B "$SUB_B" past_due
pass "B: $SCHED_B retry on the card at +0 h, declined again, switch_rail to ussd $USSD_B at 2025-03-21 10:00"

schedule C "$SUB_C"
SCHED_C=$SCHED
INV_C=$(json "$WORK/body" '["invoiceId"]')
expect '["state"]' awaiting_customer "C: schedule"
expect '["attemptsMade"]' 0 "C: schedule"
expect '["nextAttemptAt"]' "" "C: no automatic retry"
expect '["lastFailureCode"]' expired_card "C: schedule"
expect '["lastReason"]' "expired_card: waiting for a new payment method" "C: schedule"
expect '["paymentMethodId"]' "$PM_C" "C: schedule"
decisions_are C "request_card_update - 0 card"
sub_is C "$SUB_C" past_due
get "/v1/invoices/$INV_C"
expect_status 200 "C: read the failed renewal invoice"
expect '["status"]' open "C: failed renewal invoice"
events_for C subscription_payment_action_required data.subscriptionId
[[ $(count_of "$SUB_C") == 1 ]] || fail "C: expected one subscription_payment_action_required event, got: $EVENTS"
for s in "$SUB_A" "$SUB_B" "$SUB_D"; do
    [[ $(count_of "$s") == 0 ]] || fail "subscription_payment_action_required emitted for $s"
done
LINK_C=$(rows "$WORK/body" items data.subscriptionId data.invoiceId data.scheduleId data.updateUrl |
    awk -v want="$SUB_C $INV_C $SCHED_C" '$1 " " $2 " " $3 == want { print $4 }')
[[ $LINK_C == http*/portal\?mode=test ]] ||
    fail "C: the action-required event for $SCHED_C has updateUrl '$LINK_C', expected the portal (.../portal?mode=test)"
pass "C: $SCHED_C awaiting_customer (request_card_update), subscription_payment_action_required with $LINK_C"

schedule D "$SUB_D"
SCHED_D=$SCHED
INV_D=$(json "$WORK/body" '["invoiceId"]')
expect '["state"]' scheduled "D: schedule"
expect '["attemptsMade"]' 1 "D: the +0 h retry was made"
expect '["nextAttemptAt"]' 2025-03-21T10:00:00.000Z "D: next attempt"
expect '["lastFailureCode"]' processor_error "D: schedule"
expect '["paymentMethodId"]' "$PM_D" "D: schedule"
decisions_are D "retry $RENEWAL 0 card
retry 2025-03-21T10:00:00.000Z 1 card"
sub_is D "$SUB_D" past_due
pass "D: $SCHED_D back-off: retried at +0 h, next at +24 h (2025-03-21 10:00)"

# --- 3b. C's merchant pays the invoice with a new card (04 §4: not an automatic retry) ---

card "C" "$CUS_C" 4242424242424242
GOOD_C=$PM
write POST "/v1/invoices/$INV_C/pay" "{\"paymentMethodId\":\"$GOOD_C\"}"
expect_status 200 "C: pay the invoice with the new card"
expect '["status"]' paid "C: pay the invoice"
expect '["amountPaid"]' "$AMOUNT" "C: pay the invoice"
schedule C "$SUB_C"
expect '["state"]' recovered "C: after the payment"
expect '["attemptsMade"]' 0 "C: a merchant payment is not an automatic retry"
expect '["recoveredAt"]' "$MAR21" "C: recovered at clock time"
sub_is C "$SUB_C" active
expect '["paymentMethodId"]' "$GOOD_C" "C: the paying card becomes the subscription's method"
expect '["currentPeriodStart"]' "$RENEWAL" "C: period of the recovered invoice"
expect '["currentPeriodEnd"]' "$PERIOD_END" "C: period of the recovered invoice"
pass "C: paid with new card $GOOD_C: recovered, attemptsMade 0, subscription active on the new card"

# --- 3c. on to 2025-03-29: payday, the ussd retry, D's back-off to exhaustion ---

MAR29=2025-03-29T00:00:00.000Z
advance "$MAR29"

schedule A "$SUB_A"
expect '["state"]' recovered "A: schedule"
expect '["attemptsMade"]' 1 "A: schedule"
expect '["recoveredAt"]' 2025-03-28T09:00:00.000Z "A: recovered on payday"
sub_is A "$SUB_A" active
expect '["currentPeriodStart"]' "$RENEWAL" "A: period of the recovered invoice"
expect '["currentPeriodEnd"]' "$PERIOD_END" "A: period of the recovered invoice"
expect '["paymentMethodId"]' "$PM_A" "A: subscription method"
get "/v1/invoices/$INV_A"
expect '["status"]' paid "A: invoice"
expect '["paidAt"]' 2025-03-28T09:00:00.000Z "A: invoice"
pass "A: recovered on payday 2025-03-28 09:00 after 1 retry; active until $PERIOD_END"

schedule B "$SUB_B"
expect '["state"]' recovered "B: schedule"
expect '["attemptsMade"]' 2 "B: schedule"
expect '["recoveredAt"]' 2025-03-21T10:00:00.000Z "B: recovered on ussd"
expect '["paymentMethodId"]' "$USSD_B" "B: schedule"
sub_is B "$SUB_B" active
expect '["paymentMethodId"]' "$USSD_B" "B: the ussd account becomes the subscription's method"
get "/v1/events?type=subscription_updated&limit=100"
expect_status 200 "B: list subscription_updated events"
has_row "$SUB_B $USSD_B" "B: no subscription_updated event with paymentMethodId $USSD_B" \
    items data.object.id data.object.paymentMethodId
pass "B: recovered on ussd at 2025-03-21 10:00 after 2 retries; subscription_updated to $USSD_B"

schedule D "$SUB_D"
expect '["state"]' exhausted "D: schedule"
expect '["exhaustReason"]' max_attempts "D: schedule"
expect '["attemptsMade"]' 5 "D: schedule"
expect '["exhaustedAt"]' 2025-03-27T10:00:00.000Z "D: schedule"
decisions_are D "retry $RENEWAL 0 card
retry 2025-03-21T10:00:00.000Z 1 card
retry 2025-03-23T10:00:00.000Z 2 card
retry 2025-03-25T10:00:00.000Z 3 card
retry 2025-03-27T10:00:00.000Z 4 card
exhaust - 5 card"
expect '["decisions"][5]["reason"]' "Gave up after 5 retries" "D: final decision"
get "/v1/invoices/$INV_D"
expect '["status"]' uncollectible "D: invoice"
sub_is D "$SUB_D" unpaid
expect '["endedReason"]' dunning_unpaid "D: subscription"
expect '["endedAt"]' 2025-03-27T10:00:00.000Z "D: subscription"
pass "D: retries at 03-20, 03-21, 03-23, 03-25, 03-27 10:00 all failed: exhausted, invoice uncollectible, unpaid"

# --- events (05 §1), counted per subscription ---

# events_count TYPE FIELD A B C D: the number of TYPE events whose FIELD is each subscription.
events_count() {
    local type=$1 field=$2 want got
    shift 2
    events_for "events" "$type" "$field"
    want="A=$1 B=$2 C=$3 D=$4"
    got="A=$(count_of "$SUB_A") B=$(count_of "$SUB_B") C=$(count_of "$SUB_C") D=$(count_of "$SUB_D")"
    [[ $got == "$want" ]] || fail "$type events per subscription: $got, expected $want"
}
events_count subscription_payment_failed data.subscriptionId 1 2 1 6
events_count subscription_payment_action_required data.subscriptionId 0 0 1 0
events_count subscription_payment_recovered data.subscriptionId 1 1 1 0
events_count subscription_recovered data.object.id 1 1 1 0
events_count subscription_past_due data.object.id 1 1 1 1
events_count subscription_unpaid data.object.id 0 0 0 1
events_count invoice_uncollectible data.object.subscriptionId 0 0 0 1
has_row "$INV_D $SCHED_D" "invoice_uncollectible: no event for $INV_D with scheduleId $SCHED_D" \
    items data.object.id data.scheduleId
pass "events: payment_failed 1/2/1/6, action_required C, payment_recovered A/B/C, past_due all, unpaid D"

# --- customer messages (04 §8), all captured in test mode ---

# messages LABEL SUB TEMPLATE...: the subscription's notifications are exactly these templates, all captured.
messages() {
    local label=$1 sub=$2 t want=()
    shift 2
    for t in "$@"; do
        want+=("$t captured")
    done
    get "/v1/notifications?subscriptionId=$sub&limit=100"
    expect_status 200 "$label: list notifications"
    expect_rows "$(lines "${want[@]}")" "$label: notifications (templateKey status)" items templateKey status
}
messages A "$SUB_A" renewal_reminder dunning_1 payment_recovered
messages B "$SUB_B" renewal_reminder dunning_1 payment_recovered
messages C "$SUB_C" renewal_reminder payment_action_required payment_recovered
messages D "$SUB_D" renewal_reminder dunning_1 dunning_2 dunning_3 dunning_4 dunning_exhausted
get "/v1/notifications?subscriptionId=$SUB_C&templateKey=payment_action_required"
[[ $(json "$WORK/body" '["items"][0]["bodyText"]') == *"$LINK_C"* ]] ||
    fail "C: the payment_action_required message does not carry the update link $LINK_C"
pass "messages: A/B dunning_1 + payment_recovered, C payment_action_required (with the link) + payment_recovered,"
pass "          D dunning_1..4 + dunning_exhausted, a renewal_reminder each; all captured"

# --- 4. analytics scoped to the clock (04 §7) ---

get "/v1/analytics/failures?testClockId=$CLOCK&from=2025-03-01T00:00:00Z&to=2025-04-01T00:00:00Z"
expect_status 200 "GET /v1/analytics/failures"
expect '["object"]' recovery_summary "failures"
expect '["currency"]' NGN "failures"
expect '["inFlight"]' 0 "failures: no open schedule"
expect '["openSchedules"]' 0 "failures"
expect '["recovered"]' $((3 * AMOUNT)) "failures: A, B and C recovered"
expect '["recoveredCount"]' 3 "failures"
expect '["exhausted"]' "$AMOUNT" "failures: D exhausted"
expect '["exhaustedCount"]' 1 "failures"
expect '["recoveryRate"]' 0.75 "failures: 3 / (3 + 1)"
# Every failed charge: the four renewals, B's retry on the card, D's five retries (C's payment succeeded).
BY_CODE=$(json "$WORK/body" '["byFailureCode"]')
[[ $(tr -cd : <<<"$BY_CODE") == :::: ]] || fail "failures: byFailureCode $BY_CODE, expected exactly four codes"
expect '["byFailureCode"]["insufficient_funds"]' 1 "failures: A's renewal"
expect '["byFailureCode"]["do_not_honor"]' 2 "failures: B's renewal and its retry on the card"
expect '["byFailureCode"]["expired_card"]' 1 "failures: C's renewal"
expect '["byFailureCode"]["processor_error"]' 6 "failures: D's renewal and five retries"
pass "failures: recovered $((3 * AMOUNT)) (3), exhausted $AMOUNT (1), rate 0.75, nothing in flight"
pass "          byFailureCode $BY_CODE"

get "/v1/analytics/overview?testClockId=$CLOCK"
expect_status 200 "GET /v1/analytics/overview"
expect '["object"]' analytics_overview "overview"
expect '["asOf"]' "$MAR29" "overview: now is the clock's time"
expect '["mrr"]' "{\"NGN\": $((3 * AMOUNT))}" "overview: A, B and C active"
expect '["activeSubscriptions"]' 3 "overview"
expect '["trialing"]' 0 "overview"
expect '["pastDue"]' 0 "overview"
expect '["paused"]' 0 "overview"
expect '["unpaid"]' 1 "overview"
expect '["newMrr30d"]' "{\"NGN\": $((3 * AMOUNT))}" "overview: A, B and C first activated by their recovery"
expect '["recoveredRevenue30d"]' "{\"NGN\": $((3 * AMOUNT))}" "overview"
expect '["atRiskRevenue"]' '{}' "overview: nothing in flight"
expect '["churnRate30d"]' '{"voluntary": null, "involuntary": null, "total": null}' \
    "overview: nobody was active 30 days ago (empty base)"
pass "overview: mrr $((3 * AMOUNT)) NGN, 3 active, 1 unpaid, newMrr30d = recoveredRevenue30d = $((3 * AMOUNT))"

echo "recovery-smoke: all checks passed"
