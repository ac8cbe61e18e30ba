# Crash safety: 200 filter runs killed with SIGKILL at random moments, then
# every message redelivered (as the MTA does after a crash): each is stored
# exactly once and the database passes PRAGMA integrity_check.
source "$(dirname "$0")/lib.sh"
"$CONFMAIL" init >/dev/null

mkdir -p "$TMP/in"
for i in $(seq 1 200); do
	# Some large messages, so that kills also land in the middle of
	# writing many pages.
	{ sed "s/^Message-ID: .*/Message-ID: <crash-$i@test.example>/" "$DATA/question-en.eml"
	  if [ $((i % 4)) = 0 ]; then head -c $((i * 2000)) /dev/zero | tr '\0' 'x' | fold -w 76; fi
	} >"$TMP/in/$i.eml"
done

# How long one run takes here, so the kills spread over all of it.
start=$(date +%s%N)
"$CONFMAIL" filter <"$TMP/in/1.eml"
span_us=$(( ($(date +%s%N) - start) / 1000 ))
sql "DELETE FROM arrivals; DELETE FROM message_raw; DELETE FROM messages;"

RANDOM=2022
killed=0
for i in $(seq 1 200); do
	"$CONFMAIL" filter <"$TMP/in/$i.eml" 2>/dev/null &
	pid=$!
	delay_us=$(( (RANDOM * 32768 + RANDOM) % span_us ))
	sleep "$(printf '0.%06d' "$delay_us")"
	kill -KILL "$pid" 2>/dev/null && killed=$((killed + 1))
	wait "$pid" 2>/dev/null
done
stored_before=$(sql 'SELECT count(*) FROM messages')
echo "# kill window ${span_us} us; $stored_before of 200 runs committed before their SIGKILL"
check "some runs were killed before committing" [ "$stored_before" -lt 200 ]
check "some runs committed before the kill" [ "$stored_before" -gt 0 ]

equal "integrity_check after the kills" "$(sql 'PRAGMA integrity_check')" ok
equal "no half-stored message (row without raw bytes)" \
	"$(sql 'SELECT count(*) FROM messages m LEFT JOIN message_raw r ON r.message = m.id WHERE r.message IS NULL')" 0

fails=0
for i in $(seq 1 200); do
	"$CONFMAIL" filter <"$TMP/in/$i.eml" || fails=$((fails + 1))
done
equal "every redelivery accepted" "$fails" 0
# Only confmail has touched the database since the kills (the sqlite3
# shell would checkpoint it on close): the WAL must still be short, as it
# is truncated every 128 pages; a long one makes every delivery rebuild a
# long index.
wal=$(stat -c %s "$CONFMAIL_DATABASE-wal" 2>/dev/null || echo 0)
check "the WAL stays short after 200 deliveries ($wal bytes)" test "$wal" -lt $((160 * 4200))
equal "every message stored exactly once" \
	"$(sql "SELECT count(DISTINCT message_id) || ' ' || count(*) FROM messages WHERE message_id LIKE 'crash-%'")" "200 200"
equal "stored bytes match the delivered ones" \
	"$(for i in $(seq 1 200); do sha256sum <"$TMP/in/$i.eml" | cut -d' ' -f1; done | sort | sha256sum)" \
	"$(sql 'SELECT sha256 FROM messages ORDER BY sha256' | sha256sum)"
equal "integrity_check after redelivery" "$(sql 'PRAGMA integrity_check')" ok
finish
