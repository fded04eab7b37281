package restclient

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
)

// TestTypesFollowOpenAPI: each type is the schema of the OpenAPI document
// it mirrors, field for field, so the harness cannot drift from the API.
func TestTypesFollowOpenAPI(t *testing.T) {
	raw, err := os.ReadFile("../../api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for schema, v := range map[string]any{
		"WebhookCreate": WebhookInput{}, "PublishEvent": Event{}, "PublishResult": Published{},
		"Delivery": Delivery{}, "Attempt": Attempt{}, "Webhook": resource.Webhook{}, "Event": resource.Event{},
		"EventHead": resource.EventHead{},
	} {
		var want []string
		for name := range doc.Components.Schemas[schema].Properties {
			want = append(want, name)
		}
		got := jsonNames(reflect.TypeOf(v))
		slices.Sort(want)
		slices.Sort(got)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%T has %v, the OpenAPI schema %s has %v", v, got, schema, want)
		}
	}
}

// jsonNames lists the JSON members of struct type t, an embedded struct's
// as its own (as encoding/json does).
func jsonNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if f := t.Field(i); f.Anonymous && f.Tag.Get("json") == "" {
			out = append(out, jsonNames(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}
