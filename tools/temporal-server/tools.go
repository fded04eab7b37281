//go:build tools

// Package tools pins a real Temporal server (and its SQL schema tool) in a
// module of its own: the cluster test stack (scripts/cluster.sh) builds both
// into .bin/. Never imported by the main module: the server's dependency tree
// does not compile against the SDK/API versions the main module uses.
package tools

import (
	_ "go.temporal.io/server/cmd/server"
	_ "go.temporal.io/server/cmd/tools/sql"
)
