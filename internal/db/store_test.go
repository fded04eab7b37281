package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/lib/pq"
)

func TestUnavailable(t *testing.T) {
	for _, err := range []error{
		&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")},
		fmt.Errorf("authenticating api key: %w", driver.ErrBadConn),
		&pq.Error{Code: "08006"}, // connection_failure
		&pq.Error{Code: "57P01"}, // admin_shutdown
		&pq.Error{Code: "57P02"}, // crash_shutdown
		&pq.Error{Code: "57P03"}, // cannot_connect_now
		&pq.Error{Code: "53300"}, // too_many_connections
		fmt.Errorf("listing: %w", context.DeadlineExceeded),
	} {
		if !Unavailable(err) {
			t.Errorf("%v (%T) is not an outage", err, err)
		}
	}
	for _, err := range []error{
		nil, ErrNotFound, ErrConflict, errors.New("boom"),
		&pq.Error{Code: "23505"}, &pq.Error{Code: "42601"}, // unique_violation, syntax_error
		context.Canceled,
	} {
		if Unavailable(err) {
			t.Errorf("%v is taken for an outage", err)
		}
	}
}
