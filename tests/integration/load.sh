# Load (issue 10), small: tests/bench/load with 300 deliveries (150 under
# ASan) through 20 `confmail filter` processes at once while `queue run
# --once` delivers to smtp-sink and two digests are made.  Each of its
# correctness checks (`check NAME PASS|FAIL detail`) becomes one ok / not
# ok line: nothing lost or duplicated, every 75 accepted on retry, each
# registration and ticket once, each answer queued once and received once
# by the sink.  Its figures are printed as comments; speed is never judged.
source "$(dirname "$0")/lib.sh"
SINK=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
if [ ! -x "$SINK" ]; then
	skip "no smtp-sink (Debian package postfix)"
	finish
fi
# under ASan every process is slower: fewer messages, the same concurrency
count=300
[ -n "${CONFMAIL_SANITIZED:-}" ] && count=150
unset CONFMAIL_DATABASE CONFMAIL_CONF
nice python3 "$ROOT/tests/bench/load" --confmail "$CONFMAIL" --count "$count" \
	--concurrency 20 >"$TMP/load.out" 2>&1
rc=$?
sed -n '/^burst:/,/^check /{/^check /!s/^/# /p}' "$TMP/load.out"
checks=0
while read -r word name verdict detail; do
	[ "$word" = check ] || continue
	checks=$((checks + 1))
	if [ "$verdict" = PASS ]; then ok "load: $name: $detail"; else notok "load: $name: $detail"; fi
done <"$TMP/load.out"
if [ "$checks" = 0 ]; then
	notok "load: the bench ran and checked something (exit $rc)"
	sed 's/^/# /' "$TMP/load.out" | tail -20
elif [ "$rc" != 0 ] && [ "$failures" = 0 ]; then
	notok "load: the bench exited $rc with every check passing"
fi
finish
