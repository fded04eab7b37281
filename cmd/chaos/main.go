// Command chaos runs the fault suite (make chaos); the program is internal/harness/chaos.
package main

import "github.com/esign-webhooks/esign-webhooks/internal/harness/chaos"

func main() { chaos.Main() }
