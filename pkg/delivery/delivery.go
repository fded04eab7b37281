// Package delivery is the vocabulary of the delivery log: the states of a
// delivery and the outcomes of one attempt. The store, the activities, the
// workflows, the API and the metrics all speak it; it depends on nothing.
package delivery

// Status is the state of a delivery's current series of attempts.
type Status string

// Delivery statuses.
const (
	Pending   Status = "pending"   // created, no attempt answered yet
	Retrying  Status = "retrying"  // an attempt failed; the next one is scheduled
	Succeeded Status = "succeeded" // a receiver answered 2xx
	Failed    Status = "failed"    // the schedule is spent, or the receiver is gone
	Cancelled Status = "cancelled" // the webhook was disabled or deleted
	// SkippedDisabled: the event matched the webhook while it was disabled;
	// nothing was sent, and enabling it can replay the delivery.
	SkippedDisabled Status = "skipped_disabled"
	// Waiting: a pending delivery to an ordered webhook waiting for its
	// turn (an earlier event of its ordering key is not finished for the
	// webhook). Shown, and filtered on, by the API; stored as Pending.
	Waiting Status = "waiting"
)

// Statuses lists every status, in the order a delivery moves through them.
var Statuses = []Status{Waiting, Pending, Retrying, Succeeded, Failed, Cancelled, SkippedDisabled}

// Finished reports whether no more attempts of the series will be made.
func (s Status) Finished() bool { return s != Pending && s != Retrying && s != Waiting }

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Outcome is what one attempt did, and so what the workflow does next.
type Outcome string

// Attempt outcomes.
const (
	OutcomeSucceeded Outcome = "succeeded" // 2xx: done
	OutcomeRetry     Outcome = "retry"     // failed; wait, then attempt again
	OutcomeFailed    Outcome = "failed"    // failed for good (schedule spent, 410, refused address)
	OutcomeCancelled Outcome = "cancelled" // webhook disabled or deleted: no attempt made
	// OutcomeThrottled: not an attempt. The webhook's throttle held it
	// back (the receiver asked to slow down, its requests in flight are at
	// the maximum, or its rate limit's next slot is later); nothing was
	// sent or recorded. Wait, then make the same attempt number.
	OutcomeThrottled Outcome = "throttled"
)
