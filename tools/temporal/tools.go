//go:build tools

// Package tools pins the Temporal CLI (dev server + Web UI) in a module of
// its own, so its large dependency tree stays out of the main module.
package tools

import _ "github.com/temporalio/cli/cmd/temporal"
