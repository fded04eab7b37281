// Package pkg_test guards the public boundary: pkg/ is what upstream
// services import (the workflow contract and the thin publishing client),
// so it must never reach into internal/ nor pull in the server's store,
// HTTP framework or metrics.
package pkg_test

import (
	"os/exec"
	"strings"
	"testing"
)

// banned are import paths (substrings) no public package may depend on.
var banned = []string{
	"esign-webhooks/esign-webhooks/internal/",
	"jmoiron/sqlx", "lib/pq", "pressly/goose", "labstack/echo", "prometheus", "caarlos0/env",
}

func TestPublicPackagesStayThin(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 4 {
		t.Fatalf("go list found %d public packages, want events, flow, delivery and publish:\n%s", len(lines), out)
	}
	for _, line := range lines {
		pkg, deps, _ := strings.Cut(line, " ")
		for _, dep := range strings.Fields(deps) {
			for _, b := range banned {
				if strings.Contains(dep, b) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
