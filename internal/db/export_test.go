package db

import "context"

// AttemptStatsCTE is the CTE with which FinishAttempt queues what an
// attempt adds to the statistics.
const AttemptStatsCTE = attemptStats

// Finisher is FinishAttempt.
type Finisher func(ctx context.Context, a Attempt, o AttemptOutcome, signal HealthSignal, th ThrottleSignal) (Finished, error)

// FinisherWith is FinishAttempt with statsCTE (a CTE named queued, then
// any more) in place of AttemptStatsCTE: stats_cost_test.go compares ways
// of keeping the statistics.
func (s *Store) FinisherWith(statsCTE string) Finisher {
	q := finishAttemptWith(statsCTE)
	return func(ctx context.Context, a Attempt, o AttemptOutcome, signal HealthSignal, th ThrottleSignal) (Finished, error) {
		return s.finishAttempt(ctx, q, a, o, signal, th)
	}
}
