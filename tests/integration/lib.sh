# Shared by the end-to-end tests: a private database for the sample
# conference, and checks that print "ok - ..." or "not ok - ...".
set -u
: "${CONFMAIL:?set CONFMAIL to the binary under test}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DATA=$ROOT/tests/data
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export CONFMAIL_CONF=$ROOT/contrib/icssi-2022.conf
export CONFMAIL_DATABASE=$TMP/db.sqlite
unset ORIGINAL_RECIPIENT RECIPIENT SENDER CONFMAIL_NOW
failures=0

ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; failures=$((failures + 1)); }
skip() { echo "skip - $*"; }

# check DESCRIPTION COMMAND...: the command must succeed.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else notok "$desc"; fi
}

# expect_rc CODE DESCRIPTION COMMAND...: the command must exit with CODE.
# Its output is kept in $TMP/out and $TMP/err for further checks.
expect_rc() {
	local want=$1 desc=$2 rc
	shift 2
	"$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ "$rc" = "$want" ]; then ok "$desc"; else notok "$desc (exit $rc, want $want)"; fi
}

# equal DESCRIPTION GOT WANT
equal() {
	if [ "$2" = "$3" ]; then ok "$1"; else notok "$1 (got '$2', want '$3')"; fi
}

sql() { sqlite3 -batch "$CONFMAIL_DATABASE" "$@"; }

# A copy of the sample configuration with KEY set to VALUE in GROUP.
conf_with() {
	local group=$1 key=$2 value=$3 out=$TMP/conf-$RANDOM.conf
	awk -v g="[$group]" -v k="$key" -v v="$value" '
		/^\[/ { if (in_g && !done) { print k " = " v; done = 1 } in_g = ($0 == g) }
		in_g && $1 == k { print k " = " v; done = 1; next }
		{ print }
		END { if (!done) { if (!in_g) print g; print k " = " v } }
	' "$CONFMAIL_CONF" >"$out"
	echo "$out"
}

finish() { exit $((failures > 0)); }
