// Command benchlog measures the delivery log at scale (make bench-log); the
// program is internal/harness/benchlog.
package main

import "github.com/esign-webhooks/esign-webhooks/internal/harness/benchlog"

func main() { benchlog.Main() }
