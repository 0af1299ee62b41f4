package cel

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/k8sguard/k8sguard/provider/guard"
)

// lit is s as a CEL string literal.
func lit(s string) string { return strconv.Quote(s) }

// list is a CEL list literal of strings.
func list(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = lit(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// format renders a guard message format as a CEL string expression: each
// verb takes the next CEL expression in args. %s takes a string
// expression, %d an integer one, %q a string one quoted as Go quotes a
// Kubernetes name (which holds no quote or backslash). A constant message
// needs no args and renders as one literal.
func format(f string, args ...string) string {
	var parts []string
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			parts = append(parts, lit(text.String()))
			text.Reset()
		}
	}
	next := 0
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 == len(f) {
			text.WriteByte(f[i])
			continue
		}
		i++
		verb := f[i]
		if verb == '%' {
			text.WriteByte('%')
			continue
		}
		if next == len(args) {
			panic(fmt.Sprintf("cel: format %q needs more than %d arguments", f, len(args)))
		}
		arg := args[next]
		next++
		switch verb {
		case 's':
			flush()
			parts = append(parts, "("+arg+")")
		case 'd':
			flush()
			parts = append(parts, "string("+arg+")")
		case 'q':
			text.WriteByte('"')
			flush()
			parts = append(parts, "("+arg+")")
			text.WriteByte('"')
		default:
			panic(fmt.Sprintf("cel: format %q: verb %%%c is not rendered", f, verb))
		}
	}
	if next != len(args) {
		panic(fmt.Sprintf("cel: format %q takes %d arguments, got %d", f, next, len(args)))
	}
	flush()
	if len(parts) == 0 {
		return lit("")
	}
	return strings.Join(parts, " + ")
}

// diagnostic renders guard.Diagnostic for rule id around a message
// expression: "[RULE_ID] " + message + " Prevents: story.".
func diagnostic(id, message string) string {
	r, ok := guard.Lookup(id)
	if !ok {
		panic("cel: unknown rule " + id)
	}
	const marker = "\x00"
	outer := strings.SplitN(guard.Diagnostic(id, marker, r.Story.Name), marker, 2)
	return lit(outer[0]) + " + " + message + " + " + lit(outer[1])
}
