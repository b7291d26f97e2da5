# Shared by scripts/smoke.sh, billing_smoke.sh and recovery_smoke.sh: curl for HTTP, python3 only to read JSON.
# The sourcing script sets SMOKE_NAME (the prefix of its messages) first.

command -v curl >/dev/null || { echo "$SMOKE_NAME: FAIL: curl is not installed" >&2; exit 1; }
command -v python3 >/dev/null || { echo "$SMOKE_NAME: FAIL: python3 is not installed" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
STATUS=-

fail() {
    echo "$SMOKE_NAME: FAIL: $*" >&2
    if [[ -s "$WORK/body" ]]; then
        echo "$SMOKE_NAME: last response ($STATUS): $(head -c 1500 "$WORK/body")" >&2
    fi
    exit 1
}

pass() {
    echo "  ok  $*"
}

# json FILE EXPR: print a field of a JSON document, e.g. json "$WORK/body" '["items"][0]["id"]'.
# Strings print as-is, null as the empty string, anything else as JSON.
json() {
    python3 - "$1" "$2" <<'PY'
import json, sys
path, expr = sys.argv[1], sys.argv[2]
with open(path, encoding="utf-8") as fh:
    value = json.load(fh)
for part in expr.strip("[]").split("]["):
    part = part.strip("\"'")
    value = value[int(part)] if isinstance(value, list) else value[part]
if value is None:
    print("")
elif isinstance(value, str):
    print(value)
else:
    print(json.dumps(value))
PY
}

# rows FILE LIST FIELD...: one line per element of the list at key LIST, its FIELDs separated by spaces (null: "-").
# A FIELD may be a dotted path into the element, e.g. data.object.id.
rows() {
    python3 - "$@" <<'PY'
import json, sys
path, key, fields = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(path, encoding="utf-8") as fh:
    items = json.load(fh)[key]
def field(item, name):
    for part in name.split("."):
        item = item[part]
    return item
for item in items:
    values = [field(item, f) for f in fields]
    print(" ".join("-" if v is None else str(v) for v in values))
PY
}

# request METHOD PATH KEY [BODY] [EXTRA_HEADER...]: sets STATUS; body in $WORK/body, headers in $WORK/headers.
# KEY "-" sends no Authorization header.
request() {
    local method=$1 path=$2 key=$3 body=${4:-}
    shift 4 2>/dev/null || shift $#
    local args=(-sS -X "$method" -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' --max-time 60)
    if [[ $key != "-" ]]; then
        args+=(-H "Authorization: Bearer $key")
    fi
    if [[ -n $body ]]; then
        args+=(-H "Content-Type: application/json" --data-binary "$body")
    fi
    local extra
    for extra in "$@"; do
        args+=(-H "$extra")
    done
    STATUS=$(curl "${args[@]}" "$BASE_URL$path") || fail "$method $path: curl could not reach $BASE_URL"
}

expect_status() {
    local want=$1 what=$2
    [[ $STATUS == "$want" ]] || fail "$what: expected HTTP $want, got $STATUS"
}

header() {
    # The value of a response header (case-insensitive name), without the trailing CR.
    { grep -i "^$1:" "$WORK/headers" || true; } | tail -n 1 | cut -d: -f2- | sed -e 's/^[[:space:]]*//' -e 's/\r$//'
}
