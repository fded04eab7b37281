package publish_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"go.temporal.io/sdk/client"

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/publish"
)

// An upstream service publishes an event straight through Temporal, without
// the REST API. The worker of esign-webhooks delivers it.
func Example() {
	c, err := client.Dial(client.Options{HostPort: "127.0.0.1:7233"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	p := &publish.Publisher{Client: c} // TaskQueue defaults to "webhooks"
	res, err := p.Publish(context.Background(), "6f1c1d1e-0000-4000-8000-000000000001", events.Event{
		ID:            "env-42-finish", // idempotency key: publishing it again starts nothing new
		Type:          events.EnvelopeFinish,
		TriggerSource: events.SourceThirdPartyApp,
		AppID:         "app_123",
		Data:          []byte(`{"envelopeId":"env-42","envelopeStatus":2}`),
	})
	var invalid *events.ValidationError
	if errors.As(err, &invalid) {
		for _, p := range invalid.Problems {
			log.Printf("%s: %s", p.Pointer, p.Message) // e.g. /data/envelopeStatus: is required
		}
		log.Fatal("not a valid event")
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.WorkflowID)
}
