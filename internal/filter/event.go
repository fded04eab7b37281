package filter

import (
	"errors"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// Event is what a filter sees as `event`: the event's head and its data.
// A typed object, so a misspelt field (event.tpye) is refused when saved.
type Event struct {
	ID            string
	Type          string
	TriggerSource string
	AppID         string
	OccurredAt    time.Time
	OrderingKey   string
	// Data is the event's data as decoded by DecodeData.
	Data map[string]any
}

// eventTypeName is Event's name in CEL.
const eventTypeName = "webhooks.Event"

// eventField is one field of Event in CEL: its type, and how the
// interpreter reads it from the *Event of the activation.
type eventField struct {
	t   *types.Type
	get func(*Event) any
	set func(*Event) bool // has(event.x): not the zero value
}

// eventFields are Event's fields by their CEL names: what Variables lists.
var eventFields = map[string]eventField{
	"id":            {types.StringType, func(e *Event) any { return types.String(e.ID) }, func(e *Event) bool { return e.ID != "" }},
	"type":          {types.StringType, func(e *Event) any { return types.String(e.Type) }, func(e *Event) bool { return e.Type != "" }},
	"triggerSource": {types.StringType, func(e *Event) any { return types.String(e.TriggerSource) }, func(e *Event) bool { return e.TriggerSource != "" }},
	"appId":         {types.StringType, func(e *Event) any { return types.String(e.AppID) }, func(e *Event) bool { return e.AppID != "" }},
	"occurredAt": {types.TimestampType, func(e *Event) any { return types.Timestamp{Time: e.OccurredAt} },
		func(e *Event) bool { return !e.OccurredAt.IsZero() }},
	"orderingKey": {types.StringType, func(e *Event) any { return types.String(e.OrderingKey) }, func(e *Event) bool { return e.OrderingKey != "" }},
	// The raw map: the interpreter looks its keys up without converting
	// it, and converts only what a filter reads.
	"data": {types.NewMapType(types.StringType, types.DynType), func(e *Event) any { return e.Data },
		func(e *Event) bool { return len(e.Data) > 0 }},
}

// Variables lists what a filter may name, for the docs and the console.
var Variables = []string{"event.id", "event.type", "event.triggerSource", "event.appId", "event.occurredAt",
	"event.orderingKey", "event.data"}

// eventProvider adds Event to the types CEL knows; a filter cannot make
// one (NewValue), only read the one it is given.
type eventProvider struct{ types.Provider }

// withEvent declares Event and the variable event of that type.
func withEvent() cel.EnvOption {
	return func(env *cel.Env) (*cel.Env, error) {
		env, err := cel.CustomTypeProvider(eventProvider{env.CELTypeProvider()})(env)
		if err != nil {
			return nil, err
		}
		return cel.Variable("event", cel.ObjectType(eventTypeName))(env)
	}
}

func (p eventProvider) FindStructType(name string) (*types.Type, bool) {
	if name == eventTypeName {
		return types.NewTypeTypeWithParam(types.NewObjectType(eventTypeName)), true
	}
	return p.Provider.FindStructType(name)
}

func (p eventProvider) FindStructFieldNames(name string) ([]string, bool) {
	if name == eventTypeName {
		return Variables, true
	}
	return p.Provider.FindStructFieldNames(name)
}

func (p eventProvider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if name != eventTypeName {
		return p.Provider.FindStructFieldType(name, field)
	}
	f, ok := eventFields[field]
	if !ok {
		return nil, false
	}
	return &types.FieldType{Type: f.t,
		IsSet: func(obj any) bool {
			e, ok := obj.(*Event)
			return ok && f.set(e)
		},
		GetFrom: func(obj any) (any, error) {
			e, ok := obj.(*Event)
			if !ok {
				return nil, errNotEvent
			}
			return f.get(e), nil
		}}, true
}

func (p eventProvider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if name == eventTypeName {
		return types.NewErr("%s cannot be made in a filter", eventTypeName)
	}
	return p.Provider.NewValue(name, fields)
}

var errNotEvent = errors.New("event is not an event")
