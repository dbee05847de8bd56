#!/usr/bin/env bash
# The README's lifecycle diagram and cmp.customer_status_graph() must list
# exactly the transitions of cmp.customer_status_transition.
set -euo pipefail
export LC_ALL=C PGOPTIONS="-c client_min_messages=warning"
repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
db=ro_lifecycle_diagram
passed=0 failed=0
check() { # name, expected, actual
	if [ "$2" = "$3" ]; then
		echo "ok - $1"; passed=$((passed + 1))
	else
		echo "not ok - $1"; diff <(echo "$2") <(echo "$3") | sed 's/^/#   /'; failed=$((failed + 1))
	fi
}
psql -X -q -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
psql -X -q -U postgres -d "$db" -c "CREATE EXTENSION reseller_onboarding" >/dev/null
table=$(psql -X -At -U postgres -d "$db" -c \
	"SELECT from_status || ' -> ' || to_status FROM cmp.customer_status_transition ORDER BY 1")
graph=$(psql -X -At -U postgres -d "$db" -c "SELECT cmp.customer_status_graph()" |
	sed -n 's/^ *\([A-Z]*\) -> \([A-Z]*\);$/\1 -> \2/p' | sort)
readme=$(sed -n '/^```mermaid/,/^```/p' "$repo/README.md" | grep -v '\[\*\]' |
	sed -n 's/^ *\([A-Z]*\) --> \([A-Z]*\)$/\1 -> \2/p' | sort)
check "customer_status_graph() lists exactly the transition table" "$table" "$graph"
check "the README lifecycle diagram lists exactly the transition table" "$table" "$readme"
check "the transition table is the lifecycle of SPEC §3" "ACTIVE -> SUSPENDED
ACTIVE -> TERMINATED
DRAFT -> ACTIVE
DRAFT -> TERMINATED
SUSPENDED -> ACTIVE
SUSPENDED -> TERMINATED" "$table"
psql -X -q -U postgres -d postgres -c "DROP DATABASE $db" >/dev/null
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
