// Command bench runs the benchmarks (make bench); the program is internal/harness/bench.
package main

import "github.com/esign-webhooks/esign-webhooks/internal/harness/bench"

func main() { bench.Main() }
