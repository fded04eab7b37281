// Package filter is a webhook's payload filter: a CEL expression
// (github.com/google/cel-go) over the event, checked, cost-estimated and
// compiled when the webhook is saved, and evaluated by the worker when the
// event's subscriptions are resolved. A webhook without a filter gets every
// event it subscribes to; one with a filter only those it is true for.
package filter

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
)

// Limits of a filter (docs/delivery.md, "Payload filters").
const (
	// MaxBytes bounds a filter's text.
	MaxBytes = 2048
	// MaxCost bounds what one evaluation of a filter may cost, in CEL's
	// cost units (about one basic operation each; BenchmarkMatch measures
	// them): its estimate for the largest event is refused above it when
	// the filter is saved, and an event larger still is checked again (see
	// Input).
	MaxCost = 100_000
	// MaxString and MaxItems are the largest event the estimate assumes:
	// the API's bounds on a string in an event's data (its whole data
	// too) and on the items of a list or the members of an object in it.
	MaxString = 256 << 10
	MaxItems  = 10_000
	// maxDepth bounds the nesting of a filter's syntax.
	maxDepth = 32
)

// environment is the one CEL environment of every filter: the standard
// library and the variable event, no extensions (their cost estimates
// would be guesses). Immutable once built, so shared.
var environment = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		withEvent(),
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		cel.ParserExpressionSizeLimit(MaxBytes),
		cel.ParserRecursionLimit(maxDepth),
	)
})

// Problem is one thing wrong with a filter, at a place in its text
// (Line and Column from 1, Column counted in characters; 0 when the
// problem is the whole filter).
type Problem struct {
	Line, Column int
	Message      string
}

func (p Problem) String() string {
	if p.Line == 0 {
		return p.Message
	}
	return fmt.Sprintf("line %d, column %d: %s", p.Line, p.Column, p.Message)
}

// Error is a filter that cannot be saved, with every problem found.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return strings.Join(parts, "; ")
}

func problem(msg string, args ...any) *Error {
	return &Error{Problems: []Problem{{Message: fmt.Sprintf(msg, args...)}}}
}

// Filter is a compiled filter, safe for concurrent use.
type Filter struct {
	checked *cel.Ast
	prog    cel.Program
	// Cost is the most one evaluation may cost, for the largest event
	// the API accepts: at most MaxCost.
	Cost uint64
}

// Compile checks src and compiles it: CEL over event, of type bool, at
// most MaxBytes long and MaxCost expensive. It returns an *Error for a
// filter that cannot be saved; "" (no filter) is one too.
func Compile(src string) (*Filter, error) {
	switch {
	case strings.TrimSpace(src) == "":
		return nil, problem("is empty")
	case len(src) > MaxBytes:
		return nil, problem("must be at most %d bytes", MaxBytes)
	case !utf8.ValidString(src):
		return nil, problem("must be UTF-8 text")
	}
	env, err := environment()
	if err != nil {
		return nil, fmt.Errorf("building the filter environment: %w", err)
	}
	checked, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, issuesError(iss)
	}
	if p, ok := wholeEvent(checked.NativeRep()); ok {
		return nil, &Error{Problems: []Problem{p}}
	}
	// dyn is fine: event.data.active is a bool or an evaluation error.
	if t := checked.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, problem("must be true or false (a bool), not a %s", t)
	}
	f := &Filter{checked: checked}
	if f.Cost, err = f.estimate(extents{items: MaxItems, str: MaxString}); err != nil {
		return nil, problem("%v", err)
	}
	if f.Cost > MaxCost {
		return nil, problem("is too expensive: it may cost up to %s for the largest event (strings of %d KiB, "+
			"lists of %d items), more than the limit of %d; loops over the data's lists and searches in its "+
			"strings cost most", costString(f.Cost), MaxString>>10, MaxItems, MaxCost)
	}
	// No runtime cost tracking (cel.CostLimit): in cel-go v0.31 it costs
	// time quadratic in a loop's iterations (a filter looping over 10,000
	// items took 500 ms with it, 4 ms without). The estimate bounds the
	// cost instead, for every event (see Input). OptOptimize compiles
	// constant regular expressions: a bad one is refused here.
	if f.prog, err = env.Program(checked, cel.EvalOptions(cel.OptOptimize)); err != nil {
		return nil, problem("%v", err)
	}
	return f, nil
}

// estimate is the most f may cost for an event within x.
func (f *Filter) estimate(x extents) (uint64, error) {
	env, err := environment()
	if err != nil {
		return 0, err
	}
	est, err := env.EstimateCost(f.checked, newSizes(f.checked.NativeRep(), x))
	if err != nil {
		return 0, fmt.Errorf("cannot estimate its cost: %w", err)
	}
	return est.Max, nil
}

func costString(c uint64) string {
	if c == ^uint64(0) {
		return "an unbounded amount"
	}
	return fmt.Sprint(c)
}

// wholeEvent finds a use of event other than to read one of its fields
// (event == x, [event]) or an event made in the filter (webhooks.Event{}):
// a filter reads the event's fields, and the event itself has no value a
// filter could compare or show.
func wholeEvent(a *ast.AST) (Problem, bool) {
	found := ast.MatchDescendants(ast.NavigateAST(a), func(e ast.NavigableExpr) bool {
		if e.Kind() == ast.StructKind {
			return true
		}
		parent, ok := e.Parent()
		return e.Kind() == ast.IdentKind && e.AsIdent() == "event" && (!ok || parent.Kind() != ast.SelectKind)
	})
	if len(found) == 0 {
		return Problem{}, false
	}
	p := Problem{Message: "event is only read field by field: event.type, event.data.envelopeId, …"}
	if loc := a.SourceInfo().GetStartLocation(found[0].ID()); loc.Line() > 0 {
		p.Line, p.Column = loc.Line(), loc.Column()+1
	}
	return p, true
}

// issuesError turns CEL's issues into an Error with 1-based positions.
func issuesError(iss *cel.Issues) *Error {
	out := &Error{}
	for _, e := range iss.Errors() {
		p := Problem{Message: e.Message}
		if loc := e.Location; loc != nil && loc.Line() > 0 {
			p.Line, p.Column = loc.Line(), loc.Column()+1 // CEL's columns start at 0
		}
		out.Problems = append(out.Problems, p)
	}
	if len(out.Problems) == 0 {
		out.Problems = []Problem{{Message: iss.String()}}
	}
	return out
}

// Match evaluates f on in. An error (a missing data member, a value of
// the wrong type, an event too large for f's cost limit) comes with
// false; what it means is the caller's to decide.
func (f *Filter) Match(in *Input) (bool, error) {
	if !in.x.within(extents{items: MaxItems, str: MaxString}) {
		// Larger than the API accepts (published straight to Temporal):
		// the save-time estimate does not hold; estimate for this event.
		cost, err := f.estimate(in.x)
		if err != nil {
			return false, err
		}
		if cost > MaxCost {
			return false, fmt.Errorf("the event is too large for this filter: it may cost up to %s, more than the limit of %d",
				costString(cost), MaxCost)
		}
	}
	out, _, err := f.prog.Eval(in.act)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("it gave a %s, not true or false", out.Type().TypeName())
	}
	return b, nil
}
