#!/usr/bin/env bash
# End-to-end billing check of a running Duro server, with nothing but curl and test keys (and python3 to read JSON).
#
#   duro tenant create --name "Acme" --owner-email owner@acme.example --json > acme.json
#   scripts/billing_smoke.sh acme.json http://127.0.0.1:8000
#
# $1  output of `duro tenant create --json` (01 §11) for the tenant under test
# $2  base URL of the server (default http://127.0.0.1:8000)
#
# In test mode (03 §12, every subscription on its own test clock so every figure is exact): attaches a simulator
# card, subscribes a customer with a trial and a 50% `once` promo code, advances the clock across the trial end and
# two more periods and checks the paid invoices and succeeded transactions; changes plan with each proration
# behaviour (03 §8 worked examples C-F) checking the `proration` object, the preview's `amountDueNow` against the
# invoice charged and the preview's `nextInvoice` against the next renewal; refunds part, then the rest, of a paid
# invoice (03 §11). Every write carries an Idempotency-Key. Exits non-zero with a message on the first failed check;
# prints "billing-smoke: all checks passed" at the end.
set -euo pipefail

usage() {
    echo "usage: $0 TENANT_JSON [BASE_URL]" >&2
    exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
TENANT_JSON=$1
BASE_URL=${2:-http://127.0.0.1:8000}
BASE_URL=${BASE_URL%/}

SMOKE_NAME=billing-smoke
# shellcheck source=scripts/smoke_lib.sh
source "$(dirname "$0")/smoke_lib.sh"
RUN="bsmoke-$(date +%s)-$$"

# write METHOD PATH BODY: a test-mode write with a fresh Idempotency-Key (kept in LAST_KEY for a replay).
KEY_SEQ=0
write() {
    KEY_SEQ=$((KEY_SEQ + 1))
    LAST_KEY="$RUN-$KEY_SEQ"
    request "$1" "$2" "$TEST_SK" "$3" "Idempotency-Key: $LAST_KEY"
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

# advance CLOCK TO: move a test clock, which runs every renewal due on the way (03 §12).
advance() {
    write POST "/v1/test-clocks/$1/advance" "{\"to\":\"$2\"}"
    expect_status 200 "advance clock $1 to $2"
    expect '["frozenTime"]' "$2" "advance clock $1 to $2"
    expect '["status"]' ready "advance clock $1 to $2"
}

# new_clock AT NAME: sets CLOCK.
new_clock() {
    write POST /v1/test-clocks "{\"frozenTime\":\"$1\",\"name\":\"$2\"}"
    expect_status 201 "create test clock $2"
    expect '["frozenTime"]' "$1" "create test clock $2"
    expect '["status"]' ready "create test clock $2"
    CLOCK=$(json "$WORK/body" '["id"]')
    [[ $CLOCK == clock_* ]] || fail "create test clock $2: unexpected id '$CLOCK'"
}

# new_plan NAME AMOUNT TRIAL_DAYS: prints nothing, sets PLAN_ID.
new_plan() {
    write POST /v1/plans "{\"name\":\"$1\",\"amount\":$2,\"currency\":\"NGN\",\"interval\":\"month\",\"trialDays\":$3}"
    expect_status 201 "create plan $1"
    expect '["amount"]' "$2" "create plan $1"
    expect '["trialDays"]' "$3" "create plan $1"
    expect '["interval"]' month "create plan $1"
    PLAN_ID=$(json "$WORK/body" '["id"]')
    [[ $PLAN_ID == plan_* ]] || fail "create plan $1: unexpected id '$PLAN_ID'"
}

[[ -r $TENANT_JSON ]] || fail "cannot read tenant JSON $TENANT_JSON"
TEST_SK=$(json "$TENANT_JSON" '["keys"]["test"]["secret"]') || fail "$TENANT_JSON is not duro tenant create --json output"
LIVE_SK=$(json "$TENANT_JSON" '["keys"]["live"]["secret"]')
TENANT_ID=$(json "$TENANT_JSON" '["tenant"]["id"]')
[[ $TEST_SK == sk_test_* && $LIVE_SK == sk_live_* ]] || fail "$TENANT_JSON does not hold sk_test_/sk_live_ keys"

echo "billing-smoke: $BASE_URL, tenant $TENANT_ID"

request GET /readyz "$TEST_SK"
expect_status 200 "GET /readyz"
pass "server ready"

# --- setup: a clock, plans, a customer with a simulator card, a promo code ---

request POST /v1/test-clocks "$LIVE_SK" '{"frozenTime":"2025-01-01T00:00:00Z"}' "Idempotency-Key: $RUN-live-clock"
expect_error 403 test_mode_only "a live key creating a test clock"

T0=2025-01-01T00:00:00.000Z
new_clock "$T0" "billing smoke: trial and renewals"
MAIN_CLOCK=$CLOCK
pass "test clock $MAIN_CLOCK frozen at $T0 (live keys get 403 test_mode_only)"

new_plan "Starter (7-day trial)" 300000 7
STARTER=$PLAN_ID
new_plan "Basic" 300000 0
BASIC=$PLAN_ID
new_plan "Pro" 500000 0
PRO=$PLAN_ID
pass "plans: Starter 300000 with a 7-day trial $STARTER, Basic 300000 $BASIC, Pro 500000 $PRO"

write POST /v1/customers "{\"email\":\"billing@smoke.example.com\",\"name\":\"Billing Smoke\",\"merchantRef\":\"$RUN\"}"
expect_status 201 "create a customer"
CUSTOMER=$(json "$WORK/body" '["id"]')
[[ $CUSTOMER == cus_* ]] || fail "create a customer: unexpected id '$CUSTOMER'"

CARD='{"testCard":{"number":"4242424242424242","expMonth":12,"expYear":2034}}'
write POST "/v1/customers/$CUSTOMER/payment-methods" "$CARD"
expect_status 201 "attach simulator card 4242424242424242"
PM=$(json "$WORK/body" '["id"]')
[[ $PM == pm_* ]] || fail "attach card: unexpected id '$PM'"
expect '["rail"]' card "attach card"
expect '["brand"]' visa "attach card"
expect '["last4"]' 4242 "attach card"
expect '["usable"]' true "attach card"
expect '["isDefault"]' true "attach card (first method becomes the default)"
expect '["customerId"]' "$CUSTOMER" "attach card"
write POST "/v1/customers/$CUSTOMER/payment-methods" "$CARD"
expect_status 200 "attach the same card again (03 §1.3: 200 with the existing method)"
expect '["id"]' "$PM" "attach the same card again"
get "/v1/customers/$CUSTOMER"
expect_status 200 "read back the customer"
expect '["defaultPaymentMethodId"]' "$PM" "customer default method"
pass "customer $CUSTOMER with default card $PM (visa 4242; re-attaching answers 200 with the same method)"

PROMO_CODE="HALF-${RUN#bsmoke-}"
write POST /v1/promo-codes "{\"code\":\"${PROMO_CODE,,}\",\"discountType\":\"percentage\",\"discountValue\":50,\"duration\":\"once\"}"
expect_status 201 "create a 50% once promo code"
PROMO=$(json "$WORK/body" '["id"]')
expect '["code"]' "$PROMO_CODE" "promo code is stored upper case"
expect '["duration"]' once "create promo code"
expect '["redeemedCount"]' 0 "create promo code"
pass "promo code $PROMO_CODE ($PROMO): 50% off, once"

# --- subscribe with a trial and the promo code on the clock, then advance across the trial and two periods ---

write POST /v1/subscriptions \
    "{\"customerId\":\"$CUSTOMER\",\"planId\":\"$STARTER\",\"promoCode\":\"${PROMO_CODE,,}\",\"testClockId\":\"$MAIN_CLOCK\"}"
expect_status 201 "subscribe with a trial and a promo code"
SUB=$(json "$WORK/body" '["id"]')
[[ $SUB == sub_* ]] || fail "subscribe: unexpected id '$SUB'"
expect '["status"]' trialing "subscribe on the trial plan"
expect '["testClockId"]' "$MAIN_CLOCK" "subscribe"
expect '["trialStart"]' "$T0" "subscribe (clock time)"
expect '["trialEnd"]' 2025-01-08T00:00:00.000Z "subscribe: trial end = now + 7 days"
expect '["currentPeriodEnd"]' 2025-01-08T00:00:00.000Z "subscribe: the trial is the current period"
expect '["billingAnchor"]' 2025-01-08T00:00:00.000Z "subscribe: anchor = trial end"
expect '["promoCodeId"]' "$PROMO" "subscribe"
expect '["discountCyclesRemaining"]' 1 "subscribe: a once promo covers one invoice"
expect '["latestInvoiceId"]' "" "subscribe: no invoice during the trial"
expect '["cyclesCompleted"]' 0 "subscribe"
get "/v1/promo-codes/$PROMO"
expect '["redeemedCount"]' 1 "promo redeemed at subscription creation"
get "/v1/invoices?subscriptionId=$SUB"
expect_status 200 "list the trial subscription's invoices"
[[ $(rows "$WORK/body" items id | wc -l) == 0 ]] || fail "a trialing subscription has an invoice already"
pass "subscription $SUB trialing until 2025-01-08, promo redeemed, no invoice yet"

advance "$MAIN_CLOCK" 2025-01-15T00:00:00.000Z
get "/v1/subscriptions/$SUB"
expect_status 200 "read the subscription after the trial"
expect '["status"]' active "after the trial end"
expect '["activatedAt"]' 2025-01-08T00:00:00.000Z "after the trial end"
expect '["currentPeriodStart"]' 2025-01-08T00:00:00.000Z "after the trial end"
expect '["currentPeriodEnd"]' 2025-02-08T00:00:00.000Z "after the trial end"
expect '["cyclesCompleted"]' 1 "after the trial end"
expect '["discountCyclesRemaining"]' 0 "after the first paid invoice"
pass "trial ended on 2025-01-08: active, period 2025-01-08 -> 2025-02-08"

# 03 §12: at most two periods of the shortest attached plan per call (from 2025-01-15: 2025-03-15).
write POST "/v1/test-clocks/$MAIN_CLOCK/advance" '{"to":"2025-03-15T00:00:01.000Z"}'
expect_error 422 advance_too_far "advance past two periods of the shortest plan"
write POST "/v1/test-clocks/$MAIN_CLOCK/advance" '{"to":"2025-01-01T00:00:00.000Z"}'
expect_status 422 "advance to before frozenTime"
get "/v1/test-clocks/$MAIN_CLOCK"
expect '["frozenTime"]' 2025-01-15T00:00:00.000Z "a refused advance leaves the clock"
pass "advance limit: two periods per call (422 advance_too_far), never backwards"

advance "$MAIN_CLOCK" 2025-02-15T00:00:00.000Z
advance "$MAIN_CLOCK" 2025-03-15T00:00:00.000Z
get "/v1/subscriptions/$SUB"
expect '["status"]' active "after two more periods"
expect '["currentPeriodStart"]' 2025-03-08T00:00:00.000Z "after two more periods"
expect '["currentPeriodEnd"]' 2025-04-08T00:00:00.000Z "after two more periods"
expect '["cyclesCompleted"]' 3 "after two more periods"
LATEST=$(json "$WORK/body" '["latestInvoiceId"]')
pass "clock advanced in steps to 2025-03-15: three periods paid"

get "/v1/invoices?subscriptionId=$SUB&limit=100"
expect_status 200 "list the subscription's invoices"
rows "$WORK/body" items periodStart periodEnd kind status subtotal discount amount amountPaid promoCodeId id |
    sort >"$WORK/invoices"
[[ $(wc -l <"$WORK/invoices") == 3 ]] || fail "expected 3 invoices after three periods, got: $(cat "$WORK/invoices")"
WANT_PERIODS=(2025-01-08T00:00:00.000Z 2025-02-08T00:00:00.000Z 2025-03-08T00:00:00.000Z 2025-04-08T00:00:00.000Z)
INVOICES=()
declare -A INVOICE_START
n=0
while read -r start end kind status subtotal discount amount paid promo id; do
    what="invoice $((n + 1)) ($id)"
    [[ $start == "${WANT_PERIODS[$n]}" && $end == "${WANT_PERIODS[$((n + 1))]}" ]] ||
        fail "$what: period $start -> $end, expected ${WANT_PERIODS[$n]} -> ${WANT_PERIODS[$((n + 1))]} (contiguous)"
    [[ $kind == renewal ]] || fail "$what: kind $kind, expected renewal"
    [[ $status == paid ]] || fail "$what: status $status, expected paid"
    [[ $subtotal == 300000 ]] || fail "$what: subtotal $subtotal, expected 300000"
    if ((n == 0)); then
        [[ $discount == 150000 && $amount == 150000 ]] ||
            fail "$what: discount $discount amount $amount, expected 150000 and 150000 (50% once promo)"
        [[ $promo == "$PROMO" ]] || fail "$what: promoCodeId $promo, expected $PROMO"
    else
        [[ $discount == 0 && $amount == 300000 ]] ||
            fail "$what: discount $discount amount $amount, expected 0 and 300000 (the promo was once)"
    fi
    [[ $paid == "$amount" ]] || fail "$what: amountPaid $paid, expected $amount"
    INVOICES+=("$id")
    INVOICE_START[$id]=$start
    n=$((n + 1))
done <"$WORK/invoices"
[[ ${INVOICES[2]} == "$LATEST" ]] || fail "latestInvoiceId is $LATEST, expected the last renewal ${INVOICES[2]}"

get "/v1/invoices/${INVOICES[0]}"
expect_status 200 "read the first renewal invoice"
expect '["paidAt"]' 2025-01-08T00:00:00.000Z "first renewal paid at the trial end (clock time)"
LINE_SUM=0
HAS_DISCOUNT_LINE=no
while read -r type amount; do
    LINE_SUM=$((LINE_SUM + amount))
    [[ $type == discount && $amount == -150000 ]] && HAS_DISCOUNT_LINE=yes
done < <(rows "$WORK/body" lines type amount)
[[ $LINE_SUM == 150000 ]] || fail "first renewal: lines sum to $LINE_SUM, expected the amount 150000"
[[ $HAS_DISCOUNT_LINE == yes ]] || fail "first renewal: no discount line of -150000"
expect '["attempts"][0]["status"]' succeeded "first renewal attempt"
expect '["attempts"][0]["amount"]' 150000 "first renewal attempt"
pass "invoices: 3 paid renewals, periods contiguous from 2025-01-08, the first 50% off (150000), then 300000"

get "/v1/transactions?subscriptionId=$SUB&limit=100"
expect_status 200 "list the subscription's transactions"
rows "$WORK/body" items invoiceId status source amount paymentMethodId rail createdAt | sort >"$WORK/txns"
[[ $(wc -l <"$WORK/txns") == 3 ]] || fail "expected 3 transactions, got: $(cat "$WORK/txns")"
TXN_TOTAL=0
while read -r invoice status source amount method rail created; do
    [[ $status == succeeded ]] || fail "transaction for $invoice: status $status, expected succeeded"
    [[ $source == renewal ]] || fail "transaction for $invoice: source $source, expected renewal"
    [[ $method == "$PM" && $rail == card ]] || fail "transaction for $invoice: method $method/$rail, expected $PM/card"
    [[ -n ${INVOICE_START[$invoice]:-} ]] || fail "transaction for unknown invoice $invoice"
    [[ $created == "${INVOICE_START[$invoice]}" ]] ||
        fail "transaction for $invoice: createdAt $created, expected the clock time ${INVOICE_START[$invoice]} (03 §12)"
    TXN_TOTAL=$((TXN_TOTAL + amount))
done <"$WORK/txns"
[[ $TXN_TOTAL == 750000 ]] || fail "transactions total $TXN_TOTAL, expected 150000 + 300000 + 300000"
get "/v1/customers/$CUSTOMER/transactions?limit=100"
expect_status 200 "list the customer's transactions"
[[ $(rows "$WORK/body" items status | grep -c succeeded) -ge 3 ]] || fail "customer transactions miss the renewals"
pass "transactions: 3 succeeded renewal charges on $PM at clock time, 750000 in all"

# --- change plan with each proration behaviour: 03 §8 worked examples C-F, each subscription on its own clock ---
# Period 2025-02-01 -> 2025-03-01 (P = 2419200 s), change at 2025-02-11 09:00 (R = 1522800 s):
# net = round_half_up(200000 x 1522800 / 2419200) = 125893.

FEB=2025-02-01T00:00:00.000Z
MAR=2025-03-01T00:00:00.000Z
CHANGE_AT=2025-02-11T09:00:00.000Z

# change_sub LABEL PLAN PRICE: a clock at 2025-02-01, a paid subscription on PLAN, the clock moved to CHANGE_AT.
# Sets CLOCK and SUB.
change_sub() {
    local label=$1 plan=$2 price=$3
    new_clock "$FEB" "billing smoke: $label"
    write POST /v1/subscriptions "{\"customerId\":\"$CUSTOMER\",\"planId\":\"$plan\",\"testClockId\":\"$CLOCK\"}"
    expect_status 201 "$label: subscribe"
    SUB=$(json "$WORK/body" '["id"]')
    expect '["status"]' active "$label: subscribe (first charge on the default card)"
    expect '["currentPeriodStart"]' "$FEB" "$label: subscribe"
    expect '["currentPeriodEnd"]' "$MAR" "$label: subscribe"
    get "/v1/invoices/$(json "$WORK/body" '["latestInvoiceId"]')"
    expect_status 200 "$label: read the creation invoice"
    expect '["kind"]' subscription_create "$label: creation invoice"
    expect '["status"]' paid "$label: creation invoice"
    expect '["amount"]' "$price" "$label: creation invoice"
    advance "$CLOCK" "$CHANGE_AT"
}

# preview_change LABEL PLAN BEHAVIOR: the preview (read-only: no Idempotency-Key). Sets DUE_NOW and NEXT_AMOUNT.
preview_change() {
    local label=$1
    request POST "/v1/subscriptions/$SUB/change-plan/preview" "$TEST_SK" \
        "{\"planId\":\"$2\",\"prorationBehavior\":\"$3\"}"
    expect_status 200 "$label: preview"
    expect '["proration"]["behavior"]' "$3" "$label: preview"
    DUE_NOW=$(json "$WORK/body" '["amountDueNow"]')
    NEXT_AMOUNT=$(json "$WORK/body" '["nextInvoice"]["amount"]')
}

# expect_proration AMOUNT KIND BEHAVIOR WHAT
expect_proration() {
    expect '["proration"]["amount"]' "$1" "$4"
    expect '["proration"]["kind"]' "$2" "$4"
    expect '["proration"]["behavior"]' "$3" "$4"
}

# renews_at LABEL TO AMOUNT: advance CLOCK past the period end; the renewal invoice must be paid for AMOUNT.
renews_at() {
    local label=$1
    advance "$CLOCK" "$2"
    get "/v1/invoices?subscriptionId=$SUB&kind=renewal&limit=100"
    expect_status 200 "$label: list renewal invoices"
    local found
    found=$(rows "$WORK/body" items status amount)
    [[ $found == "paid $3" ]] || fail "$label: renewal invoice(s) '$found', expected one paid for $3"
}

# prorate_now, charge case (example C's figures): 125893 invoiced and charged now.
change_sub "prorate_now upgrade" "$BASIC" 300000
preview_change "prorate_now upgrade" "$PRO" prorate_now
expect_proration 125893 charge prorate_now "prorate_now upgrade: preview"
expect '["proration"]["periodSeconds"]' 2419200 "prorate_now upgrade: preview"
expect '["proration"]["remainingSeconds"]' 1522800 "prorate_now upgrade: preview"
expect '["amountDueNow"]' 125893 "prorate_now upgrade: preview"
expect '["nextInvoice"]["date"]' "$MAR" "prorate_now upgrade: preview"
get "/v1/subscriptions/$SUB"
expect '["planId"]' "$BASIC" "prorate_now upgrade: a preview changes nothing"
write POST "/v1/subscriptions/$SUB/change-plan" "{\"planId\":\"$PRO\",\"prorationBehavior\":\"prorate_now\"}"
expect_status 200 "prorate_now upgrade: change plan"
cp "$WORK/body" "$WORK/change"
CHANGE_KEY=$LAST_KEY
expect_proration 125893 charge prorate_now "prorate_now upgrade: change plan"
expect '["subscription"]["planId"]' "$PRO" "prorate_now upgrade"
expect '["subscription"]["currentPeriodEnd"]' "$MAR" "prorate_now upgrade: period unchanged"
expect '["invoice"]["kind"]' proration "prorate_now upgrade"
expect '["invoice"]["status"]' paid "prorate_now upgrade"
expect '["invoice"]["amount"]' "$DUE_NOW" "prorate_now upgrade: invoice amount = preview amountDueNow"
expect '["invoice"]["amountPaid"]' "$DUE_NOW" "prorate_now upgrade: invoice charged"
PRORATION_INVOICE=$(json "$WORK/body" '["invoice"]["id"]')
request POST "/v1/subscriptions/$SUB/change-plan" "$TEST_SK" "{\"planId\":\"$PRO\",\"prorationBehavior\":\"prorate_now\"}" \
    "Idempotency-Key: $CHANGE_KEY"
expect_status 200 "prorate_now upgrade: replayed change"
[[ $(header Idempotent-Replayed) == true ]] || fail "replayed change: expected header Idempotent-Replayed: true"
cmp -s "$WORK/change" "$WORK/body" || fail "replayed change: body differs from the first response"
get "/v1/transactions?invoiceId=$PRORATION_INVOICE"
[[ $(rows "$WORK/body" items status source amount) == "succeeded plan_change 125893" ]] ||
    fail "prorate_now upgrade: expected one succeeded plan_change charge of 125893 for $PRORATION_INVOICE"
renews_at "prorate_now upgrade" 2025-03-02T00:00:00.000Z "$NEXT_AMOUNT"
[[ $NEXT_AMOUNT == 500000 ]] || fail "prorate_now upgrade: next invoice $NEXT_AMOUNT, expected 500000"
pass "prorate_now (charge): 125893 charged now = preview amountDueNow, replay charges nothing more, then 500000"

# prorate_now, credit case (example D): balance 125893, netted against the next renewal.
change_sub "prorate_now downgrade" "$PRO" 500000
preview_change "prorate_now downgrade" "$BASIC" prorate_now
expect_proration 125893 credit prorate_now "prorate_now downgrade: preview"
expect '["amountDueNow"]' 0 "prorate_now downgrade: preview"
expect '["balanceAfter"]' 125893 "prorate_now downgrade: preview"
expect '["nextInvoice"]["amount"]' 174107 "prorate_now downgrade: preview"
write POST "/v1/subscriptions/$SUB/change-plan" "{\"planId\":\"$BASIC\",\"prorationBehavior\":\"prorate_now\"}"
expect_status 200 "prorate_now downgrade: change plan"
expect_proration 125893 credit prorate_now "prorate_now downgrade: change plan"
expect '["invoice"]' "" "prorate_now downgrade: nothing charged now"
expect '["subscription"]["balance"]' 125893 "prorate_now downgrade"
renews_at "prorate_now downgrade" 2025-03-02T00:00:00.000Z 174107
get "/v1/subscriptions/$SUB"
expect '["balance"]' 0 "prorate_now downgrade: credit used by the renewal"
pass "prorate_now (credit): balance 125893, renewal 300000 - 125893 = 174107"

# prorate_next_invoice (example C): pendingCharge 125893, added to the next renewal.
change_sub "prorate_next_invoice" "$BASIC" 300000
preview_change "prorate_next_invoice" "$PRO" prorate_next_invoice
expect_proration 125893 charge prorate_next_invoice "prorate_next_invoice: preview"
expect '["amountDueNow"]' 0 "prorate_next_invoice: preview"
expect '["pendingChargeAfter"]' 125893 "prorate_next_invoice: preview"
expect '["nextInvoice"]["amount"]' 625893 "prorate_next_invoice: preview"
write POST "/v1/subscriptions/$SUB/change-plan" "{\"planId\":\"$PRO\",\"prorationBehavior\":\"prorate_next_invoice\"}"
expect_status 200 "prorate_next_invoice: change plan"
expect_proration 125893 charge prorate_next_invoice "prorate_next_invoice: change plan"
expect '["invoice"]' "" "prorate_next_invoice: nothing charged now"
expect '["subscription"]["pendingCharge"]' 125893 "prorate_next_invoice"
renews_at "prorate_next_invoice" 2025-03-02T00:00:00.000Z 625893
get "/v1/subscriptions/$SUB"
expect '["pendingCharge"]' 0 "prorate_next_invoice: pending charge billed"
pass "prorate_next_invoice: pendingCharge 125893, renewal 500000 + 125893 = 625893"

# full_now (example E): the full new price now, a new period from the change.
change_sub "full_now" "$BASIC" 300000
preview_change "full_now" "$PRO" full_now
expect_proration 500000 charge full_now "full_now: preview"
expect '["amountDueNow"]' 500000 "full_now: preview"
expect '["nextInvoice"]["date"]' 2025-03-11T09:00:00.000Z "full_now: preview"
write POST "/v1/subscriptions/$SUB/change-plan" "{\"planId\":\"$PRO\",\"prorationBehavior\":\"full_now\"}"
expect_status 200 "full_now: change plan"
expect_proration 500000 charge full_now "full_now: change plan"
expect '["invoice"]["kind"]' plan_reset "full_now"
expect '["invoice"]["status"]' paid "full_now"
expect '["invoice"]["amount"]' "$DUE_NOW" "full_now: invoice amount = preview amountDueNow"
expect '["invoice"]["amountPaid"]' "$DUE_NOW" "full_now: invoice charged"
expect '["invoice"]["periodStart"]' "$CHANGE_AT" "full_now: invoice period"
expect '["invoice"]["periodEnd"]' 2025-03-11T09:00:00.000Z "full_now: invoice period"
expect '["subscription"]["currentPeriodStart"]' "$CHANGE_AT" "full_now: new period"
expect '["subscription"]["currentPeriodEnd"]' 2025-03-11T09:00:00.000Z "full_now: new period"
expect '["subscription"]["billingAnchor"]' "$CHANGE_AT" "full_now: new anchor"
expect '["subscription"]["cyclesCompleted"]' 2 "full_now"
renews_at "full_now" 2025-03-12T00:00:00.000Z "$NEXT_AMOUNT"
[[ $NEXT_AMOUNT == 500000 ]] || fail "full_now: next invoice $NEXT_AMOUNT, expected 500000"
pass "full_now: 500000 charged now = preview amountDueNow, new period 2025-02-11 09:00 -> 2025-03-11 09:00"

# none (example F): nothing now, the next renewal bills the new plan.
change_sub "none" "$BASIC" 300000
preview_change "none" "$PRO" none
expect_proration 0 none none "none: preview"
expect '["amountDueNow"]' 0 "none: preview"
expect '["nextInvoice"]["amount"]' 500000 "none: preview"
write POST "/v1/subscriptions/$SUB/change-plan" "{\"planId\":\"$PRO\",\"prorationBehavior\":\"none\"}"
expect_status 200 "none: change plan"
expect_proration 0 none none "none: change plan"
expect '["invoice"]' "" "none: nothing charged now"
expect '["subscription"]["planId"]' "$PRO" "none"
expect '["subscription"]["balance"]' 0 "none"
expect '["subscription"]["pendingCharge"]' 0 "none"
renews_at "none" 2025-03-02T00:00:00.000Z 500000
pass "none: nothing now, renewal of 2025-03-01 bills 500000"

# --- refunds (03 §11): part of a paid invoice, then the rest, then nothing is left ---

REFUND_INVOICE=${INVOICES[1]}
write POST "/v1/invoices/$REFUND_INVOICE/refund" '{"amount":100000,"reason":"requested_by_customer"}'
expect_status 200 "refund 100000 of $REFUND_INVOICE"
cp "$WORK/body" "$WORK/refund"
REFUND_KEY=$LAST_KEY
expect '["invoiceId"]' "$REFUND_INVOICE" "partial refund"
expect '["refunded"]' 100000 "partial refund"
expect '["status"]' paid "partial refund: the invoice stays paid"
expect '["refund"]["amount"]' 100000 "partial refund"
expect '["refund"]["status"]' succeeded "partial refund"
expect '["refund"]["reason"]' requested_by_customer "partial refund"
expect '["refund"]["createdAt"]' 2025-03-15T00:00:00.000Z "partial refund (clock time, 03 §12)"
request POST "/v1/invoices/$REFUND_INVOICE/refund" "$TEST_SK" '{"amount":100000,"reason":"requested_by_customer"}' \
    "Idempotency-Key: $REFUND_KEY"
expect_status 200 "replayed refund"
[[ $(header Idempotent-Replayed) == true ]] || fail "replayed refund: expected header Idempotent-Replayed: true"
cmp -s "$WORK/refund" "$WORK/body" || fail "replayed refund: body differs from the first response"
get "/v1/invoices/$REFUND_INVOICE"
expect '["amountRefunded"]' 100000 "after the partial refund (and its replay)"
expect '["status"]' paid "after the partial refund"
[[ $(rows "$WORK/body" refunds amount status) == "100000 succeeded" ]] || fail "invoice refunds: expected one of 100000"
pass "partial refund: 100000 of 300000, invoice still paid, replay refunds nothing more"

write POST "/v1/invoices/$REFUND_INVOICE/refund" '{"amount":200001,"reason":"too much"}'
expect_error 422 refund_exceeds_remaining "refund more than the remainder"
write POST "/v1/invoices/$REFUND_INVOICE/refund" '{"reason":"the rest"}'
expect_status 200 "refund the rest of $REFUND_INVOICE"
expect '["refunded"]' 300000 "refund the rest"
expect '["status"]' paid "refund the rest"
expect '["refund"]["amount"]' 200000 "refund the rest (amount defaults to the remainder)"
write POST "/v1/invoices/$REFUND_INVOICE/refund" '{"amount":1,"reason":"one more"}'
expect_error 422 refund_exceeds_remaining "refund a fully refunded invoice"
write POST "/v1/invoices/$REFUND_INVOICE/refund" '{"reason":"one more"}'
expect_error 422 refund_exceeds_remaining "refund a fully refunded invoice (default amount)"
get "/v1/invoices/$REFUND_INVOICE"
expect '["amountRefunded"]' 300000 "after refunding everything"
expect '["amountPaid"]' 300000 "after refunding everything"
REFUND_TOTAL=0
while read -r amount status; do
    [[ $status == succeeded ]] || fail "invoice refunds: a refund of $amount is $status"
    REFUND_TOTAL=$((REFUND_TOTAL + amount))
done < <(rows "$WORK/body" refunds amount status)
[[ $REFUND_TOTAL == 300000 ]] || fail "invoice refunds add up to $REFUND_TOTAL, expected 300000"
pass "refunded the rest (200000): 300000 in all; a further refund answers 422 refund_exceeds_remaining"

echo "billing-smoke: all checks passed"
