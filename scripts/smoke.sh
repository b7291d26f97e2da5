#!/usr/bin/env bash
# End-to-end smoke check of a running Duro server, with nothing but curl (and python3 to read JSON).
#
#   duro tenant create --name "Acme" --owner-email owner@acme.example --json > acme.json
#   duro tenant create --name "Other" --owner-email owner@other.example --json > other.json
#   scripts/smoke.sh acme.json http://127.0.0.1:8000 other.json
#
# $1  output of `duro tenant create --json` (01 §11) for the tenant under test
# $2  base URL of the server (default http://127.0.0.1:8000)
# $3  output of `duro tenant create --json` for a second tenant (cross-tenant isolation check)
#
# Creates plans and customers in both modes, pages through customers with limit=1 and nextCursor, replays an
# idempotent request, and checks the isolation rules. Exits non-zero with a message on the first failed check;
# prints "smoke: all checks passed" at the end.
set -euo pipefail

usage() {
    echo "usage: $0 TENANT_JSON [BASE_URL] [SECOND_TENANT_JSON]" >&2
    exit 2
}

[[ $# -ge 1 && $# -le 3 ]] || usage
TENANT_JSON=$1
BASE_URL=${2:-http://127.0.0.1:8000}
BASE_URL=${BASE_URL%/}
OTHER_JSON=${3:-}

SMOKE_NAME=smoke
# shellcheck source=scripts/smoke_lib.sh
source "$(dirname "$0")/smoke_lib.sh"
RUN="smoke-$(date +%s)-$$"

[[ -r $TENANT_JSON ]] || fail "cannot read tenant JSON $TENANT_JSON"
TEST_SK=$(json "$TENANT_JSON" '["keys"]["test"]["secret"]') || fail "$TENANT_JSON is not duro tenant create --json output"
TEST_PK=$(json "$TENANT_JSON" '["keys"]["test"]["publishable"]')
LIVE_SK=$(json "$TENANT_JSON" '["keys"]["live"]["secret"]')
LIVE_PK=$(json "$TENANT_JSON" '["keys"]["live"]["publishable"]')
TENANT_ID=$(json "$TENANT_JSON" '["tenant"]["id"]')
[[ $TEST_SK == sk_test_* && $LIVE_SK == sk_live_* ]] || fail "$TENANT_JSON does not hold sk_test_/sk_live_ keys"
[[ $TEST_PK == pk_test_* && $LIVE_PK == pk_live_* ]] || fail "$TENANT_JSON does not hold pk_test_/pk_live_ keys"

echo "smoke: $BASE_URL, tenant $TENANT_ID"

request GET /readyz -
expect_status 200 "GET /readyz"
pass "server ready"

# --- plans and customers in both modes ---

declare -A PLAN CUSTOMER
for mode in test live; do
    key=$TEST_SK
    [[ $mode == live ]] && key=$LIVE_SK
    request POST /v1/plans "$key" "{\"name\":\"Smoke $mode plan\",\"amount\":250000,\"interval\":\"month\"}"
    expect_status 201 "create a $mode plan"
    PLAN[$mode]=$(json "$WORK/body" '["id"]')
    [[ ${PLAN[$mode]} == plan_* ]] || fail "create a $mode plan: unexpected id '${PLAN[$mode]}'"
    request GET "/v1/plans/${PLAN[$mode]}" "$key"
    expect_status 200 "read back the $mode plan"
    pass "$mode plan ${PLAN[$mode]}"

    request POST /v1/customers "$key" "{\"email\":\"$mode@smoke.example.com\",\"name\":\"Smoke $mode\",\"merchantRef\":\"$RUN-$mode\"}"
    expect_status 201 "create a $mode customer"
    CUSTOMER[$mode]=$(json "$WORK/body" '["id"]')
    [[ ${CUSTOMER[$mode]} == cus_* ]] || fail "create a $mode customer: unexpected id '${CUSTOMER[$mode]}'"
    request GET "/v1/customers/${CUSTOMER[$mode]}" "$key"
    expect_status 200 "read back the $mode customer"
    [[ $(json "$WORK/body" '["merchantRef"]') == "$RUN-$mode" ]] || fail "read back the $mode customer: wrong merchantRef"
    pass "$mode customer ${CUSTOMER[$mode]}"
done

# --- pagination: limit=1, following nextCursor, sees every customer once, newest first ---

CREATED=("${CUSTOMER[test]}")
for n in 1 2; do
    request POST /v1/customers "$TEST_SK" "{\"name\":\"Smoke page $n\",\"merchantRef\":\"$RUN-page-$n\"}"
    expect_status 201 "create test customer $n for paging"
    CREATED+=("$(json "$WORK/body" '["id"]')")
done
request GET /v1/customers?limit=100 "$TEST_SK"
expect_status 200 "list test customers"
TOTAL=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$WORK/body")

SEEN=()
cursor=""
for ((page = 1; page <= TOTAL + 1; page++)); do
    request GET "/v1/customers?limit=1${cursor:+&cursor=$cursor}" "$TEST_SK"
    expect_status 200 "page $page of test customers"
    count=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$WORK/body")
    [[ $count == 1 ]] || fail "page $page of test customers: expected 1 item with limit=1, got $count"
    SEEN+=("$(json "$WORK/body" '["items"][0]["id"]')")
    cursor=$(json "$WORK/body" '["nextCursor"]')
    more=$(json "$WORK/body" '["hasMore"]')
    if [[ -z $cursor ]]; then
        [[ $more == false ]] || fail "page $page: nextCursor is null but hasMore is $more"
        break
    fi
    [[ $more == true ]] || fail "page $page: nextCursor is set but hasMore is $more"
done
[[ ${#SEEN[@]} == "$TOTAL" ]] || fail "paging with limit=1 returned ${#SEEN[@]} customers, the list holds $TOTAL"
[[ $(printf '%s\n' "${SEEN[@]}" | sort -u | wc -l) == "$TOTAL" ]] || fail "paging returned a customer twice"
# Newest first: the three created above are the first three pages, most recent first.
for i in 0 1 2; do
    want=${CREATED[$((2 - i))]}
    [[ ${SEEN[$i]} == "$want" ]] || fail "paging order: page $((i + 1)) is ${SEEN[$i]}, expected $want (newest first)"
done
pass "paged $TOTAL test customers with limit=1 and nextCursor"

# --- idempotency: the same key and body replays the stored response byte for byte ---

IDEM_KEY="$RUN-idem"
IDEM_BODY="{\"email\":\"idem@smoke.example.com\",\"merchantRef\":\"$RUN-idem\"}"
request POST /v1/customers "$TEST_SK" "$IDEM_BODY" "Idempotency-Key: $IDEM_KEY"
expect_status 201 "first idempotent create"
cp "$WORK/body" "$WORK/first"
[[ -z $(header Idempotent-Replayed) ]] || fail "first idempotent create: must not carry Idempotent-Replayed"
request POST /v1/customers "$TEST_SK" "$IDEM_BODY" "Idempotency-Key: $IDEM_KEY"
expect_status 201 "replayed idempotent create"
[[ $(header Idempotent-Replayed) == true ]] || fail "replay: expected header Idempotent-Replayed: true"
cmp -s "$WORK/first" "$WORK/body" || fail "replay: body differs from the first response"
request GET "/v1/customers?merchantRef=$RUN-idem" "$TEST_SK"
expect_status 200 "list by merchantRef after replay"
[[ $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$WORK/body") == 1 ]] ||
    fail "replay created a second customer"
pass "idempotent replay (Idempotent-Replayed: true, identical body, one customer)"

# --- isolation ---

request GET "/v1/customers/${CUSTOMER[live]}" "$TEST_SK"
expect_status 404 "test key reading the live customer"
request GET "/v1/plans/${PLAN[live]}" "$TEST_SK"
expect_status 404 "test key reading the live plan"
request GET "/v1/customers/${CUSTOMER[test]}" "$LIVE_SK"
expect_status 404 "live key reading the test customer"
request GET "/v1/plans/${PLAN[test]}" "$LIVE_SK"
expect_status 404 "live key reading the test plan"
pass "modes are isolated (404 across test/live)"

if [[ -n $OTHER_JSON ]]; then
    [[ -r $OTHER_JSON ]] || fail "cannot read second tenant JSON $OTHER_JSON"
    OTHER_TEST=$(json "$OTHER_JSON" '["keys"]["test"]["secret"]')
    OTHER_LIVE=$(json "$OTHER_JSON" '["keys"]["live"]["secret"]')
    [[ $(json "$OTHER_JSON" '["tenant"]["id"]') != "$TENANT_ID" ]] || fail "\$3 is the same tenant as \$1"
    for mode in test live; do
        key=$OTHER_TEST
        [[ $mode == live ]] && key=$OTHER_LIVE
        request GET "/v1/customers/${CUSTOMER[$mode]}" "$key"
        expect_status 404 "second tenant reading the first tenant's $mode customer"
        request GET "/v1/plans/${PLAN[$mode]}" "$key"
        expect_status 404 "second tenant reading the first tenant's $mode plan"
        request GET /v1/customers?limit=100 "$key"
        expect_status 200 "second tenant listing its $mode customers"
        grep -q "${CUSTOMER[$mode]}" "$WORK/body" && fail "second tenant's $mode list shows the first tenant's customer"
    done
    pass "tenants are isolated (404 for the other tenant's ids)"
else
    echo "  --  cross-tenant check skipped: pass a second tenant's JSON as \$3"
fi

request GET /v1/customers "$TEST_PK"
expect_status 403 "publishable test key on GET /v1/customers"
[[ $(json "$WORK/body" '["error"]["code"]') == forbidden ]] || fail "publishable key: error code is not forbidden"
request POST /v1/plans "$LIVE_PK" '{"name":"x","amount":1,"interval":"month"}'
expect_status 403 "publishable live key on POST /v1/plans"
pass "publishable keys get 403"

request GET /v1/customers -
expect_status 401 "no credential"
[[ $(json "$WORK/body" '["error"]["code"]') == unauthorized ]] || fail "no credential: error code is not unauthorized"
request GET /v1/customers "sk_test_$(printf 'A%.0s' {1..43})"
expect_status 401 "unknown secret key"
pass "missing or unknown credentials get 401"

echo "smoke: all checks passed"
