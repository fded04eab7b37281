package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/google/cel-go/interpreter"

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// Input is one event made ready for filters: its data decoded once, then
// shared by every filter evaluated on it (read only, so concurrently too).
type Input struct {
	act interpreter.Activation
	x   extents // of the event, for Match's cost bound
}

// NewInput prepares e (its Data a JSON object) for Match.
func NewInput(e events.Event) (*Input, error) {
	data, err := DecodeData(e.Data)
	if err != nil {
		return nil, err
	}
	ev := &Event{ID: e.ID, Type: e.Type, TriggerSource: e.TriggerSource, AppID: e.AppID,
		OccurredAt: e.OccurredAt.UTC(), OrderingKey: e.OrderingKey, Data: data}
	act, err := interpreter.NewActivation(map[string]any{"event": ev})
	if err != nil {
		return nil, err
	}
	x := extents{}
	x.add(data)
	for _, s := range []string{e.ID, e.Type, e.TriggerSource, e.AppID, e.OrderingKey} {
		x.str = max(x.str, len(s))
	}
	return &Input{act: act, x: x}, nil
}

// ErrNotObject: an event's data must be a JSON object.
var ErrNotObject = errors.New("the event's data is not a JSON object")

// DecodeData decodes an event's data for filters. A JSON number is an int
// when it is a whole number within int64 (1, 1.0 and 1e2 alike: what it
// is, not how it is written, since PostgreSQL's jsonb rewrites 1e2 as 100)
// and a double otherwise; the rest is as encoding/json decodes it.
func DecodeData(raw json.RawMessage) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("reading the event's data: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, ErrNotObject
	}
	numbers(m)
	return m, nil
}

// numbers replaces every json.Number inside v (a map or a list) by an
// int64 or a float64, in place.
func numbers(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if n, ok := x.(json.Number); ok {
				v[k] = number(n)
			} else {
				numbers(x)
			}
		}
	case []any:
		for i, x := range v {
			if n, ok := x.(json.Number); ok {
				v[i] = number(n)
			} else {
				numbers(x)
			}
		}
	}
}

func number(n json.Number) any {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return f // ±Inf: beyond float64, still valid JSON
	}
	if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
		return int64(f)
	}
	return f
}

// extents are an event's largest collection (items of a list, members
// of an object) and string (in bytes, which bound its characters).
type extents struct{ items, str int }

func (x extents) within(limit extents) bool { return x.items <= limit.items && x.str <= limit.str }

// add takes v's extents in.
func (x *extents) add(v any) {
	switch v := v.(type) {
	case map[string]any:
		x.items = max(x.items, len(v))
		for k, e := range v {
			x.str = max(x.str, len(k))
			x.add(e)
		}
	case []any:
		x.items = max(x.items, len(v))
		for _, e := range v {
			x.add(e)
		}
	case string:
		x.str = max(x.str, len(v))
	}
}
