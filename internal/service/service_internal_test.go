package service

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.temporal.io/api/serviceerror"
)

func TestStartRefused(t *testing.T) {
	for _, tc := range []struct {
		err     error
		refused bool
	}{
		{fmt.Errorf("failed reaching server: %w", serviceerror.NewUnavailable("connection refused")), true},
		{fmt.Errorf("starting workflow x: %w", serviceerror.NewInvalidArgument("bad")), true},
		{serviceerror.NewResourceExhausted(0, "busy"), true},
		// The start may have been accepted: do not fail the delivery.
		{serviceerror.NewDeadlineExceeded("deadline"), false},
		{serviceerror.NewCanceled("canceled"), false},
		{fmt.Errorf("starting workflow x: %w", context.DeadlineExceeded), false},
		{context.Canceled, false},
		{errors.New("unknown gRPC error"), false},
		{serviceerror.NewInternal("internal"), false},
	} {
		if got := startRefused(tc.err); got != tc.refused {
			t.Errorf("startRefused(%v) = %v, want %v", tc.err, got, tc.refused)
		}
	}
}
