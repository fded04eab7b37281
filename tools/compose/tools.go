//go:build tools

// Package tools pins what `make test-compose` builds its local substitutes
// of public images from, in a module of its own:
// the Temporal UI server at the version the temporalio/ui image of
// docker-compose.yml is built from: that image runs this binary with the
// module's config/docker.yaml, and so does the substitute.
package tools

import _ "github.com/temporalio/ui-server/v2/cmd/server"
