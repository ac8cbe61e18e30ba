# Other parsers' real malformed test mails (../shared/realmail: Dovecot's,
# mime4j's, enmime's): each goes through `filter` and `parse --json` within
# 2 s, is accepted (stored or quarantined), and prints valid JSON.
source "$(dirname "$0")/lib.sh"
REALMAIL=${REALMAIL:-$ROOT/../shared/realmail}
if [ ! -d "$REALMAIL" ]; then
	skip "no $REALMAIL beside the checkout"
	finish
fi
"$CONFMAIL" init >/dev/null

n=0 slow=0 bad_exit=0 bad_json=0
while IFS= read -r -d '' f; do
	n=$((n + 1))
	start=$(date +%s%N)
	timeout 10 "$CONFMAIL" filter <"$f" >/dev/null 2>"$TMP/err"
	rc=$?
	[ $rc = 0 ] || { bad_exit=$((bad_exit + 1)); echo "# filter exit $rc: $f"; sed 's/^/#   /' "$TMP/err" | head -5; }
	timeout 10 "$CONFMAIL" parse --json "$f" >"$TMP/json.$n" 2>"$TMP/err"
	rc=$?
	[ $rc = 0 ] || { bad_exit=$((bad_exit + 1)); echo "# parse exit $rc: $f"; sed 's/^/#   /' "$TMP/err" | head -5; }
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	# 2 s for both runs; sanitizer builds are allowed three times as long
	limit=$(( ${CONFMAIL_SANITIZED:+3}${CONFMAIL_SANITIZED:-1} * 2000 ))
	[ "$ms" -le "$limit" ] || { slow=$((slow + 1)); echo "# ${ms} ms: $f"; }
done < <(find "$REALMAIL" -type f ! -iname 'LICENSE*' ! -name NOTICE ! -name README.md -print0 | sort -z)

bad_json=$(python3 - "$TMP" "$n" <<'PY'
import json, sys
bad = 0
for i in range(1, int(sys.argv[2]) + 1):
    try:
        lines = open("%s/json.%d" % (sys.argv[1], i), "rb").read().decode("utf-8").splitlines()
        assert len(lines) == 1
        json.loads(lines[0])
    except Exception:
        bad += 1
print(bad)
PY
)
echo "# $n messages from $REALMAIL"
check "there are real messages to try" [ "$n" -gt 100 ]
equal "every message accepted by filter and parse (exit 0)" "$bad_exit" 0
equal "every parse --json is valid UTF-8 JSON" "$bad_json" 0
equal "none took longer than the limit" "$slow" 0
equal "every distinct message stored" "$(sql 'SELECT count(*) FROM arrivals')" "$n"
equal "database passes integrity_check" "$(sql 'PRAGMA integrity_check')" ok
echo "# quarantined: $(sql "SELECT count(*) FROM messages WHERE state = 'quarantined'")"
finish
