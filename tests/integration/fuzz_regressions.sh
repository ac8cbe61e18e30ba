# The inputs the fuzz targets once crashed on (tests/data/fuzz/TARGET/)
# stay harmless: each is run through its target binary when `make fuzz`
# has built one from the current sources, else through the commands that
# reach the same code: `filter` and `parse --json` for messages (mail,
# dsn), `check` over a copy of filters/ or templates/ holding the input
# (rules, template), which must answer 0 or 78, never crash.
source "$(dirname "$0")/lib.sh"
FUZZ=${FUZZ:-$ROOT/build/fuzz}
"$CONFMAIL" init >/dev/null

# fuzz_binary TARGET: the target's binary when it is newer than every source
fuzz_binary() {
	local bin=$FUZZ/fuzz_$1
	[ -x "$bin" ] || return 1
	[ -z "$(find "$ROOT/src" "$ROOT/tests/fuzz" -newer "$bin" -name '*.[ch]' -print -quit)" ] || return 1
	echo "$bin"
}

rules_files=(classify.rules fields.rules countries.table languages.table months.table words.table)
n=0
for dir in "$DATA"/fuzz/*/; do
	target=$(basename "$dir")
	bin=$(fuzz_binary "$target") || bin=
	for f in "$dir"*; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		name="$target/$(basename "$f")"
		if [ -n "$bin" ]; then
			expect_rc 0 "$name: fuzz_$target runs it cleanly" timeout 60 "$bin" "$f"
			continue
		fi
		case $target in
		mail | dsn)
			expect_rc 0 "$name: filter accepts it" timeout 10 "$CONFMAIL" filter <"$f"
			expect_rc 0 "$name: parse --json reads it" timeout 10 "$CONFMAIL" parse --json "$f"
			;;
		rules)
			rm -rf "$TMP/filters" && cp -R "$ROOT/filters" "$TMP/filters"
			# the first byte picks the file, as in fuzz_rules.c
			which=$(( $(od -An -tu1 -N1 "$f") % 6 ))
			tail -c +2 "$f" >"$TMP/filters/${rules_files[$which]}"
			CONFMAIL_RULES=$TMP/filters timeout 10 "$CONFMAIL" check >"$TMP/out" 2>&1
			rc=$?
			case $rc in 0 | 78) ok "$name: check answers $rc" ;; *) notok "$name: check exit $rc" ;; esac
			;;
		template)
			rm -rf "$TMP/templates" && cp -R "$ROOT/templates" "$TMP/templates"
			cp "$f" "$TMP/templates/en/received.tmpl"
			CONFMAIL_TEMPLATES=$TMP/templates timeout 10 "$CONFMAIL" check >"$TMP/out" 2>&1
			rc=$?
			case $rc in 0 | 78) ok "$name: check answers $rc" ;; *) notok "$name: check exit $rc" ;; esac
			;;
		*)
			notok "$name: no target called $target"
			;;
		esac
	done
done
check "there are regression inputs" [ "$n" -gt 0 ]
finish
