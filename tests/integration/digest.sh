# The organisers' view (issue 8): the digest's numbers equal counts made
# here in SQL; a second digest has no new registrations; --dry-run changes
# nothing; the CSV opens in Python's csv module with every Arabic name
# intact; the xlsx opens (unzip + XML); coordinators get their open
# questions, incomplete registrations one reminder; a person's data can be
# exported and forgotten.
source "$(dirname "$0")/lib.sh"
CORPUS=${CORPUS:-$ROOT/../shared/corpus}
export CONFMAIL_NOW=2022-01-25T09:00:00Z
CONF=$(conf_with transport maildir "$TMP/outbox")
"$CONFMAIL" -c "$CONF" init >/dev/null
if [ ! -d "$CORPUS" ]; then
	skip "no corpus at $CORPUS"
	finish
fi
for f in "$CORPUS"/reg-*.eml "$CORPUS"/upd-*.eml "$CORPUS"/cancel-*.eml "$CORPUS"/q-*.eml; do
	"$CONFMAIL" -c "$CONF" filter -r register@icssi.example <"$f" 2>/dev/null
done
# body FILE: the digest's plain text part
body() {
	python3 -c 'import email,email.policy,sys; m=email.message_from_binary_file(open(sys.argv[1],"rb"),policy=email.policy.default); print(m.get_body(("plain",)).get_content())' "$1"
}

before=$(sql "SELECT count(*) FROM outbox")
expect_rc 0 "digest --dry-run" "$CONFMAIL" -c "$CONF" digest --dry-run
cp "$TMP/out" "$TMP/digest.eml"
equal "digest --dry-run: nothing queued, nothing remembered" "$(sql "SELECT count(*) FROM outbox") $(sql "SELECT count(*) FROM digests")" "$before 0"
python3 - "$TMP/digest.eml" >"$TMP/parts" <<'END'
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
print(" ".join(p.get_content_type() for p in m.walk()))
print(m["To"])
END
equal "digest: text, HTML and the CSV" "$(head -n 1 "$TMP/parts")" "multipart/mixed multipart/alternative text/plain text/html text/csv"
check "digest: to the organisers" grep -q 'organisers@icssi.example, coordination@icssi.example' "$TMP/parts"
body "$TMP/digest.eml" >"$TMP/digest.txt"

# The numbers, counted here independently.
reg=$(sql "SELECT count(*) FROM registrations WHERE status = 'registered'")
check "digest: registered $reg / capacity" grep -q "^Registered: $reg / 400" "$TMP/digest.txt"
got=$(python3 - "$TMP/digest.txt" "$CONFMAIL_DATABASE" <<'END'
import re, sqlite3, sys
text = open(sys.argv[1]).read()
db = sqlite3.connect(sys.argv[2])
def section(title):
    s = text.split("\n" + title + "\n", 1)[1].split("\n\n", 1)[0]
    out = {}
    for line in s.splitlines()[1:]:
        m = re.match(r"\s+(\S.*?)\s+(\d+)\s*#*$", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out
bad = []
want = dict(db.execute("SELECT status, count(*) FROM registrations GROUP BY 1"))
got = {k: v for k, v in section("Registrations by status").items() if v}
if got != want: bad.append(f"status {got} != {want}")
want = dict(db.execute("SELECT coalesce(json_extract(fields,'$.country'),'unknown'), count(*) FROM registrations WHERE status <> 'cancelled' GROUP BY 1"))
if section("By country") != want: bad.append(f"country {section('By country')} != {want}")
want = dict(db.execute("SELECT json_extract(fields,'$.funding'), count(*) FROM registrations WHERE status <> 'cancelled' AND json_extract(fields,'$.funding') IS NOT NULL GROUP BY 1"))
got = {k: v for k, v in section("Travel: sponsorship asked (needs_sponsorship) and offered (sponsor_other)").items() if v}
if got != want: bad.append(f"funding {got} != {want}")
want = dict(db.execute("SELECT json_extract(fields,'$.arrival'), count(*) FROM registrations WHERE status <> 'cancelled' AND json_extract(fields,'$.arrival') IS NOT NULL GROUP BY 1"))
if section("Arrivals per day (airport pick-ups)") != want: bad.append("arrivals")
new = text.split("\nNew registrations\n", 1)[1].split("\n\n", 1)[0].count("\n  - ")
if new + 1 != db.execute("SELECT count(*) FROM registrations").fetchone()[0] + 0 and new != db.execute("SELECT count(*) FROM registrations").fetchone()[0]:
    bad.append(f"new {new}")
print("; ".join(bad) or "ok")
END
)
equal "digest: by status, country, funding and arrivals equal the counts made in SQL" "$got" ok
check "digest: the changes, old -> new" grep -q -A2 '^Changes' "$TMP/digest.txt"
check "digest: decisions waiting lists the late and pending ones" grep -q '^Decisions waiting' "$TMP/digest.txt"
check "digest: hotel rooms per night" grep -q '^Hotel rooms per night' "$TMP/digest.txt"
check "digest: no question is overdue right after it came" sh -c "! grep -q 'question unanswered' '$TMP/digest.txt'"
CONFMAIL_NOW=2022-01-28T09:00:00Z "$CONFMAIL" -c "$CONF" digest --dry-run >"$TMP/later.eml"
body "$TMP/later.eml" >"$TMP/later.txt"
equal "digest: three days later, each open question is a decision waiting" "$(grep -c 'question unanswered' "$TMP/later.txt")" "$(sql "SELECT count(*) FROM tickets WHERE status = 'open'")"

# In the organisers' language: Arabic headings, the HTML right to left.
AR=$(conf_with digest language ar)
sed -i "s#^maildir = .*#maildir = $TMP/outbox#" "$AR"
"$CONFMAIL" -c "$AR" digest --dry-run >"$TMP/ar.eml"
body "$TMP/ar.eml" >"$TMP/ar.txt"
check "[digest] language = ar: Arabic headings" grep -q '^تسجيلات جديدة$' "$TMP/ar.txt"
python3 -c 'import email,email.policy,sys; m=email.message_from_binary_file(open(sys.argv[1],"rb"),policy=email.policy.default); print(m.get_body(("html",)).get_content())' "$TMP/ar.eml" >"$TMP/ar.html"
check "[digest] language = ar: the HTML is right to left" grep -q 'dir="rtl"' "$TMP/ar.html"

# The CSV: BOM, Python's csv module, one row per registration, Arabic intact.
python3 - "$TMP/digest.eml" "$CONFMAIL_DATABASE" >"$TMP/csv.out" <<'END'
import csv, email, email.policy, io, sqlite3, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
data = [p for p in m.walk() if p.get_content_type() == "text/csv"][0].get_payload(decode=True)
print("bom" if data.startswith(b"\xef\xbb\xbf") else "no bom")
rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
db = sqlite3.connect(sys.argv[2])
names = {r[0]: r[1] for r in db.execute("SELECT reference, name FROM registrations")}
print(len(rows) == len(names), all(names[r["reference"]] == (r["name"] or None) or names[r["reference"]] is None for r in rows))
print(any("\u0627" in r["name"] for r in rows))
END
equal "CSV: UTF-8 with a BOM; one row per registration; every name intact; Arabic present" "$(tr '\n' ' ' <"$TMP/csv.out")" "bom True True True "

# Queued for real: remembered; the next one has no new registrations.
expect_rc 0 "digest" "$CONFMAIL" -c "$CONF" digest
equal "digest: queued to each organiser" "$(sql "SELECT count(*) FROM outbox WHERE kind = 'digest' AND template = 'digest'")" 2
check "digest: coordinators get their open questions" test "$(sql "SELECT count(*) FROM outbox WHERE template = 'coordinator-digest'")" -ge 1
CONFMAIL_NOW=2022-01-25T09:05:00Z "$CONFMAIL" -c "$CONF" digest --dry-run >"$TMP/second.eml"
body "$TMP/second.eml" >"$TMP/second.txt"
check "a second digest right after: no new registrations" grep -A2 '^New registrations' "$TMP/second.txt" -q
equal "a second digest right after: (none) new" "$(sed -n '/^New registrations/{n;n;p}' "$TMP/second.txt")" "  (none)"

# Incomplete registrations are reminded once, 5 days before the deadline.
inc=$(sql "SELECT count(*) FROM registrations WHERE status = 'incomplete'")
CONFMAIL_NOW=2022-02-09T09:00:00Z "$CONFMAIL" -c "$CONF" digest >"$TMP/out"
equal "10 days before the deadline: nobody reminded" "$(sql "SELECT count(*) FROM registrations WHERE reminded_incomplete_at IS NOT NULL")" 0
CONFMAIL_NOW=2022-02-11T09:00:00Z "$CONFMAIL" -c "$CONF" digest >"$TMP/out"
equal "4 days before: each incomplete registration reminded ($inc)" "$(sql "SELECT count(*) FROM registrations WHERE reminded_incomplete_at IS NOT NULL")" "$inc"
n=$(sql "SELECT count(*) FROM outbox WHERE template = 'incomplete'")
CONFMAIL_NOW=2022-02-12T09:00:00Z "$CONFMAIL" -c "$CONF" digest >"$TMP/out"
equal "and only once" "$(sql "SELECT count(*) FROM outbox WHERE template = 'incomplete'")" "$n"

# Exports.
expect_rc 0 "export --format json" "$CONFMAIL" -c "$CONF" registrations export --format json
equal "export json: one object per registration" "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/out")" "$(sql "SELECT count(*) FROM registrations")"
expect_rc 0 "export --format xlsx" "$CONFMAIL" -c "$CONF" registrations export --format xlsx -o "$TMP/r.xlsx"
check "xlsx: a zip with a workbook" sh -c "unzip -l '$TMP/r.xlsx' | grep -q xl/workbook.xml"
if command -v xmllint >/dev/null; then
	check "xlsx: the workbook and the first sheet are well-formed XML" sh -c "unzip -p '$TMP/r.xlsx' xl/workbook.xml | xmllint --noout - && unzip -p '$TMP/r.xlsx' xl/worksheets/sheet1.xml | xmllint --noout -"
fi
name=$(sql "SELECT name FROM registrations WHERE language = 'ar' LIMIT 1")
check "xlsx: an Arabic name intact ($name)" sh -c "unzip -p '$TMP/r.xlsx' xl/worksheets/sheet1.xml | grep -q '$name'"
check "xlsx: yes/no fields are spreadsheet booleans" sh -c "unzip -p '$TMP/r.xlsx' xl/worksheets/sheet1.xml | grep -q 't=\"b\"'"
check "xlsx: its parts are deflated at level 1 (minizip's flag bits 6), not libxlsxwriter's 6" \
	python3 -c "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); sys.exit(any(i.compress_type != 8 or i.flag_bits & 6 != 6 for i in z.infolist()))" "$TMP/r.xlsx"
check "xlsx: a list field is written as words (languages)" sh -c "unzip -p '$TMP/r.xlsx' xl/worksheets/sheet1.xml | grep -qE '>(ar|en|ckb|fr), (ar|en|ckb|fr)'"
expect_rc 64 "export: an xlsx needs a file" "$CONFMAIL" -c "$CONF" registrations export --format xlsx
expect_rc 0 "registrations list --status incomplete" "$CONFMAIL" -c "$CONF" registrations list --status incomplete
equal "list --status: only those" "$(wc -l <"$TMP/out")" "$inc"

# One person's data, and its erasure.
ref=$(sql "SELECT reference FROM registrations WHERE language = 'en' LIMIT 1")
addr=$(sql "SELECT email FROM registrations WHERE reference = '$ref'")
expect_rc 0 "export --person" "$CONFMAIL" -c "$CONF" registrations export --person "$addr"
equal "export --person: their registration and their messages" "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["registrations"]) >= 1, len(d["messages"]) >= 1)' "$TMP/out")" "True True"
"$CONFMAIL" -c "$CONF" queue run --once >/dev/null	# the digests go out first
expect_rc 0 "forget $ref" "$CONFMAIL" -c "$CONF" registrations forget "$ref"
equal "forget: nothing of them is left" "$(sql "SELECT (SELECT count(*) FROM registrations WHERE email = '$addr') + (SELECT count(*) FROM messages WHERE from_addr = '$addr') + (SELECT count(*) FROM outbox WHERE recipient = '$addr') + (SELECT count(*) FROM subscribers WHERE address = '$addr')")" 0
equal "forget: recorded, without the data" "$(sql "SELECT reference FROM erasures")" "$ref"
check "forget: the address is not in the database file" sh -c "! grep -q -a '$addr' '$CONFMAIL_DATABASE' '$CONFMAIL_DATABASE-wal' 2>/dev/null"
expect_rc 66 "forget: an unknown reference" "$CONFMAIL" -c "$CONF" registrations forget ICSSI22-9999
equal "the database is consistent after forgetting" "$(sql "PRAGMA foreign_key_check" | wc -l) $(sql "PRAGMA integrity_check")" "0 ok"
finish
