// Command webhookd runs the esign-webhooks API and delivery worker.
//
//	webhookd [serve]     API and worker in one process (default)
//	webhookd api         the REST API only
//	webhookd worker      the Temporal worker only
//	webhookd migrate     apply database migrations and exit
//	webhookd accounts create --name NAME --plan trial|basic|professional
//	webhookd console-link --account ID [--role admin|member] [--ttl 15m]
//	webhookd healthcheck [URL]  GET URL (default /readyz on HTTP_ADDR), fail unless 200
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/esign-webhooks/esign-webhooks/internal/app"
)

const usage = `usage: webhookd [serve|api|worker|migrate|accounts create --name NAME --plan PLAN|console-link --account ID [--role member]|healthcheck [URL]]`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "webhookd:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, args []string) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return app.Run(ctx, true, true)
	case "api":
		return app.Run(ctx, true, false)
	case "worker":
		return app.Run(ctx, false, true)
	case "migrate":
		return migrate(ctx)
	case "accounts":
		return accounts(ctx, args)
	case "console-link":
		return consoleLink(ctx, args)
	case "healthcheck":
		return healthcheck(ctx, args)
	case "help", "-h", "--help":
		fmt.Println(usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

// migrate applies the database migrations.
func migrate(ctx context.Context) error {
	store, _, err := app.OpenStore(ctx)
	if err != nil {
		return err
	}
	return store.Close()
}
