//go:build tools

// Package tools pins the linters that make test and make lint run
// (staticcheck, and Temporal's workflowcheck for workflow determinism) in a
// module of their own, so their dependencies stay out of the main module.
package tools

import (
	_ "go.temporal.io/sdk/contrib/tools/workflowcheck"
	_ "honnef.co/go/tools/cmd/staticcheck"
)
