package filter

import (
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// sizes is the cost estimator's idea of the event: every string under
// event at most x.str characters, every list or map at most x.items
// items. A member of the data has no type until the filter runs, so
// ranges lists the expressions the filter uses as a list or map (what a
// macro such as exists loops over, the right side of in): those are
// collections, any other may be a string.
type sizes struct {
	x      extents
	ranges map[int64]bool
}

// newSizes finds the collections of a checked filter.
func newSizes(a *ast.AST, x extents) sizes {
	s := sizes{x: x, ranges: map[int64]bool{}}
	ast.PostOrderVisit(a.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		switch e.Kind() {
		case ast.ComprehensionKind:
			s.ranges[e.AsComprehension().IterRange().ID()] = true
		case ast.CallKind:
			if c := e.AsCall(); c.FunctionName() == operators.In && len(c.Args()) == 2 {
				s.ranges[c.Args()[1].ID()] = true
			}
		}
	}))
	return s
}

func (s sizes) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	path := n.Path()
	if len(path) == 0 || path[0] != "event" {
		return nil // not the event's: CEL sizes literals itself
	}
	bound := uint64(s.x.str)
	if k := n.Type().Kind(); k == types.ListKind || k == types.MapKind || s.ranges[n.Expr().ID()] {
		bound = uint64(s.x.items)
	}
	return &checker.SizeEstimate{Min: 0, Max: bound}
}

func (sizes) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil // CEL's own estimates of its standard library
}
