package bench

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
)

// The lean floor is only a fair reference if it does the floor's work: one
// signed POST per target, each as a local activity, and it fails when one
// cannot be made.
func TestLeanFloorPostsEveryTargetAsLocalActivities(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    string
		wantErr bool
	}{
		{name: "all answered"},
		{name: "one target fails", fail: "b", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			var mu sync.Mutex
			var posted []string
			local := 0
			post := func(ctx context.Context, in floorPostInput) error {
				mu.Lock()
				defer mu.Unlock()
				posted = append(posted, in.Target)
				if activity.GetInfo(ctx).IsLocalActivity {
					local++
				}
				if in.Target == tc.fail {
					return errors.New("receiver refused")
				}
				return nil
			}
			env.RegisterActivityWithOptions(post, activity.RegisterOptions{Name: floorPostName})
			env.ExecuteWorkflow(leanFloorWorkflow, floorInput{EventID: "e1", Targets: []string{"a", "b", "c"}})
			if !env.IsWorkflowCompleted() {
				t.Fatal("workflow did not complete")
			}
			if err := env.GetWorkflowError(); (err != nil) != tc.wantErr {
				t.Fatalf("workflow error = %v, want error: %v", err, tc.wantErr)
			}
			sort.Strings(posted)
			uniq := map[string]bool{}
			for _, p := range posted {
				uniq[p] = true
			}
			if len(uniq) != 3 || !uniq["a"] || !uniq["b"] || !uniq["c"] {
				t.Errorf("posted to %v, want a, b and c", posted)
			}
			if local != len(posted) {
				t.Errorf("%d of %d POSTs ran as local activities, want all", local, len(posted))
			}
		})
	}
}
