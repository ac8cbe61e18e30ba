# 50 MDAs at once on one database: every message ends up stored exactly
# once, no process exits with anything but 0 or 75, and each 75 succeeds
# when retried (as the MTA would retry it).
source "$(dirname "$0")/lib.sh"

# 40 distinct messages; 10 of them delivered twice at the same moment (the
# MTA's own retry racing the first attempt).
mkdir -p "$TMP/in"
for i in $(seq 1 40); do
	sed "s/^Message-ID: .*/Message-ID: <conc-$i@test.example>/" "$DATA/reg-ar-base64.eml" >"$TMP/in/$i.eml"
done
for i in $(seq 41 50); do cp "$TMP/in/$((i - 40)).eml" "$TMP/in/$i.eml"; done

# round CONF: start 50 filters together; retry each 75 until it succeeds.
round() {
	local conf=$1 i
	rm -f "$TMP/go" "$TMP"/rc.*
	for i in $(seq 1 50); do
		(
			while [ ! -e "$TMP/go" ]; do sleep 0.005; done
			"$CONFMAIL" -c "$conf" filter <"$TMP/in/$i.eml" 2>/dev/null
			echo $? >"$TMP/rc.$i"
		) &
	done
	touch "$TMP/go"
	wait
	tempfails=0 others=0 retried_ok=0
	for i in $(seq 1 50); do
		case $(cat "$TMP/rc.$i") in
		0) ;;
		75)
			tempfails=$((tempfails + 1))
			for _ in 1 2 3 4 5; do
				"$CONFMAIL" -c "$conf" filter <"$TMP/in/$i.eml" 2>/dev/null && { retried_ok=$((retried_ok + 1)); break; }
			done ;;
		*) others=$((others + 1)) ;;
		esac
	done
}

round "$CONFMAIL_CONF"
equal "default busy timeout: only exit codes 0 and 75" "$others" 0
equal "default busy timeout: every 75 succeeded when retried" "$retried_ok" "$tempfails"
equal "default busy timeout: 40 distinct messages stored once each" "$(sql "SELECT count(*) FROM messages")" 40
equal "default busy timeout: 50 deliveries recorded" "$(sql 'SELECT count(*) FROM arrivals')" 50
echo "# default busy timeout: $tempfails of 50 exited 75"

# A 1 ms busy timeout forces contention to show: some must get 75.
rm -f "$CONFMAIL_DATABASE"*
short=$(conf_with store busy_timeout_ms 1)
round "$short"
equal "1 ms busy timeout: only exit codes 0 and 75" "$others" 0
equal "1 ms busy timeout: every 75 succeeded when retried" "$retried_ok" "$tempfails"
equal "1 ms busy timeout: 40 distinct messages stored once each" "$(sql "SELECT count(*) FROM messages")" 40
equal "1 ms busy timeout: no message lost or doubled" \
	"$(sql "SELECT count(*) FROM messages WHERE message_id LIKE 'conc-%' AND deliveries BETWEEN 1 AND 2")" 40
equal "1 ms busy timeout: 50 deliveries recorded" "$(sql 'SELECT count(*) FROM arrivals')" 50
equal "database passes integrity_check" "$(sql 'PRAGMA integrity_check')" ok
echo "# 1 ms busy timeout: $tempfails of 50 exited 75"
finish
