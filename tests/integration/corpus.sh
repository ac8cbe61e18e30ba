# Extraction accuracy on the labelled corpus (../shared/corpus), scored by
# ../shared/tools/score.  The floors are what the rules reach today, so a
# change that makes them worse fails here; FIELDS.md's bars are higher.
source "$(dirname "$0")/lib.sh"
CORPUS=${CORPUS:-$ROOT/../shared/corpus}
SCORE=${SCORE:-$ROOT/../shared/tools/score}
if [ ! -d "$CORPUS" ] || [ ! -x "$SCORE" ]; then
	skip "no $CORPUS or $SCORE beside the checkout"
	# More than 20 files make parse JIT-compile the rules; the interpreter
# (CONFMAIL_PCRE2_JIT=0, as single deliveries and valgrind run) must read
# every message the same way.
"$CONFMAIL" parse --json "$CORPUS"/*.eml >"$TMP/jit.json"
CONFMAIL_PCRE2_JIT=0 "$CONFMAIL" parse --json "$CORPUS"/*.eml >"$TMP/interp.json"
check "corpus: JIT-compiled and interpreted rules give the same answers" cmp -s "$TMP/jit.json" "$TMP/interp.json"
check "corpus: one line per message" test "$(wc -l <"$TMP/jit.json")" = "$(ls "$CORPUS"/*.eml | wc -l)"
finish
fi
unset CONFMAIL_CONF	# parse --json runs as the scorer runs it: no configuration
"$SCORE" --confmail "$CONFMAIL" --min-fields 0.97 --min-class 0.98 --min-language 0.98 \
	"$CORPUS" >"$TMP/score" 2>&1
rc=$?
sed 's/^/# /' "$TMP/score" | tail -n 3
equal "corpus: every case runs, fields >= 97%, class and language >= 98%" "$rc" 0
summary=$(tail -n 1 "$TMP/score")
topic=$(echo "$summary" | sed -n 's/.*topic: \([0-9.]*\)%.*/\1/p')
bounce=$(echo "$summary" | sed -n 's/.*bounce: \([0-9.]*\)%.*/\1/p')
check "corpus: topic >= 90% (${topic}%)" awk -v t="$topic" 'BEGIN { exit !(t >= 90) }'
check "corpus: bounce >= 90% (${bounce}%)" awk -v t="$bounce" 'BEGIN { exit !(t >= 90) }'
# More than 20 files make parse JIT-compile the rules; the interpreter
# (CONFMAIL_PCRE2_JIT=0, as single deliveries and valgrind run) must read
# every message the same way.
"$CONFMAIL" parse --json "$CORPUS"/*.eml >"$TMP/jit.json"
CONFMAIL_PCRE2_JIT=0 "$CONFMAIL" parse --json "$CORPUS"/*.eml >"$TMP/interp.json"
check "corpus: JIT-compiled and interpreted rules give the same answers" cmp -s "$TMP/jit.json" "$TMP/interp.json"
check "corpus: one line per message" test "$(wc -l <"$TMP/jit.json")" = "$(ls "$CORPUS"/*.eml | wc -l)"
finish
