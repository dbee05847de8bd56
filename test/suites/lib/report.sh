# test/suites/lib/report.sh -- the TAP-like lines of the scripted suites,
# sourced by them: `ok - NAME`, `not ok - NAME` with `#   ` detail lines,
# counted in $passed and $failed (the suite prints `N passed, M failed`).

ok() {
	echo "ok - $1"
	passed=$((passed + 1))
}

not_ok() { # NAME [DETAIL...]
	echo "not ok - $1"
	shift
	local line
	for line in "$@"; do
		[[ -n $line ]] && printf '%s\n' "$line" | sed 's/^/#   /'
	done
	failed=$((failed + 1))
}

check_eq() { # NAME EXPECTED ACTUAL [DETAIL...]
	local name=$1 want=$2 got=$3
	shift 3
	if [[ $want == "$got" ]]; then
		ok "$name"
	else
		not_ok "$name" "expected: $want" "got:      $got" "$@"
	fi
}
