package filter

import (
	"strings"
)

// LogReason is err, an evaluation error of the filter src, as it may be
// logged: CEL's messages can quote the event's data (`no such key: <a
// key read from the data>`, `invalid RFC 3339 timestamp "<a value>"`), and
// the data must stay out of logs. Messages known to hold only names from
// the filter, types or fixed text are kept; of any other, the words before
// the first quote or colon.
func LogReason(err error, src string) string {
	msg := err.Error()
	if key, ok := strings.CutPrefix(msg, "no such key: "); ok {
		if key != "" && strings.Contains(src, key) {
			return msg // a key the filter names
		}
		return "no such key (a key taken from the event's data)"
	}
	for _, safe := range []string{"no such overload", "no matching overload", "type conversion error from",
		"division by zero", "modulus by zero", "integer overflow", "index out of bounds", "it gave a ",
		"the event is too large for this filter", "the event's data is not a JSON object"} {
		if strings.HasPrefix(msg, safe) {
			return msg
		}
	}
	if i := strings.IndexAny(msg, `"':`); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimSpace(msg) + " (details withheld: they may quote the event's data)"
}
